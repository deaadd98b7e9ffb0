using System.Diagnostics;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    /// <summary>
    /// Runs one federated round: select (with over-selection), send tasks, fold updates in as
    /// they arrive until the target or the deadline, then publish a new version or, under
    /// quorum, abandon the round and keep the model.
    /// </summary>
    public async Task<RoundReport> RunRoundAsync(CancellationToken cancellationToken)
    {
        await _roundGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunRoundCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _roundGate.Release();
        }
    }

    /// <summary>Runs rounds until <see cref="RoundOptions.MaxRounds"/> (0 = forever) or cancellation.</summary>
    public async Task RunRoundsAsync(CancellationToken cancellationToken)
    {
        var rounds = _options.Rounds;
        if (rounds.Mode == RoundMode.Buffered)
        {
            await RunBufferedAsync(rounds.MaxRounds == 0 ? int.MaxValue : rounds.MaxRounds, cancellationToken).ConfigureAwait(false);
            return;
        }

        for (var completed = 0; rounds.MaxRounds == 0 || completed < rounds.MaxRounds;)
        {
            var report = await RunRoundAsync(cancellationToken).ConfigureAwait(false);
            if (report.Status == RoundStatus.Stopped) return;
            if (report.Status != RoundStatus.NotStarted) completed++;
            await Task.Delay(rounds.Interval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<RoundReport> RunRoundCoreAsync(CancellationToken cancellationToken)
    {
        var rounds = _options.Rounds;
        var current = _current;
        var roundNumber = Registry.LastRound(_options.ModelName) + 1;
        var roundId = $"{_options.ModelName}-r{roundNumber}-v{current.Record.Version}";
        var started = _time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var eligible = Devices.Eligible();
        var (target, quorum, selectCount) = Plan(eligible.Count);
        var context = new RoundContext(roundNumber, eligible.Count, target, selectCount, (ulong)_options.Seed);
        if (eligible.Count < rounds.MinDevices || eligible.Count < quorum)
        {
            LogNotStarted(roundId, eligible.Count, Math.Max(rounds.MinDevices, quorum));
            return NotStartedReport(roundNumber, roundId, RoundStatus.NotStarted, eligible.Count, target, clock.Elapsed, null);
        }

        if (Strategy.StopReason(context) is { } stop)
        {
            LogStopped(roundId, stop);
            return NotStartedReport(roundNumber, roundId, RoundStatus.Stopped, eligible.Count, target, clock.Elapsed, stop);
        }

        // Devices execute a round id once. A round re-run after a crash (nothing recorded, tasks already out) gets a
        // new id, or every device that saw the first attempt would skip it and it would be abandoned at the deadline.
        var attempt = Registry.BeginRoundAttempt(_options.ModelName, roundNumber);
        if (attempt > 1) roundId = FormattableString.Invariant($"{roundId}-a{attempt}");
        var fit = Strategy.ConfigureFit(context, eligible.Select(d => d.DeviceId).ToArray(), BaseTrainConfig());
        var selected = fit.Selected;
        var accumulator = new RoundAccumulator(roundId, _options.ModelName, current.Record.Version, current.Weights.Layout, selected, Strategy, context);
        Monitor.DiscardTraining();
        var rejectionsBefore = Rejections.Snapshot();
        Interlocked.Exchange(ref _roundBytesUp, 0);
        _roundProgress = new SemaphoreSlim(0);
        Volatile.Write(ref _openRound, accumulator);

        var deadline = started + rounds.ReportDeadline;
        var task = TrainTask(roundId, roundNumber, current.Record.Version, WithTrainingProfiles(fit.Config, selected.Count), deadline, (ulong)roundNumber);
        LogRoundStarted(roundId, eligible.Count, selected.Count, target);
        await SendTasksAsync(task, selected, cancellationToken).ConfigureAwait(false);

        using (var timeout = new CancellationTokenSource(Remaining(deadline), _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
        {
            try
            {
                while (accumulator.AcceptedCount < target) await _roundProgress.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Deadline: close with what arrived.
            }
        }

        Volatile.Write(ref _openRound, null);
        Volatile.Write(ref _lastClosedRoundId, roundId);
        var aggregate = accumulator.Close(quorum);
        var byReason = Diff(Rejections.Snapshot(), rejectionsBefore);
        var rejected = byReason.Values.Sum();
        var bytesUp = Interlocked.Read(ref _roundBytesUp);

        if (aggregate.Contributors < quorum)
        {
            LogAbandoned(roundId, aggregate.Contributors, quorum);
            Registry.AddRound(new RoundRecord(_options.ModelName, roundNumber, roundId, current.Record.Version, "abandoned", selected.Count,
                aggregate.Contributors, aggregate.Samples, rejected, null, started, _time.GetUtcNow()));
            return new RoundReport(roundNumber, roundId, RoundStatus.Abandoned, current.Record.Version, null, eligible.Count, selected.Count, target,
                aggregate.Contributors, aggregate.Samples, rejected, byReason, null, null, aggregate.MeanLocalLoss, bytesUp, clock.Elapsed);
        }

        var model = await PublishAggregateAsync(current, aggregate, roundNumber, cancellationToken).ConfigureAwait(false);
        Registry.AddRound(new RoundRecord(_options.ModelName, roundNumber, roundId, current.Record.Version, "completed", selected.Count,
            aggregate.Contributors, aggregate.Samples, rejected, model.Record.Version, started, _time.GetUtcNow(), aggregate.Notes));
        LogRoundCompleted(roundId, model.Record.Version, aggregate.Contributors, aggregate.Samples, model.Record.EvalAccuracy ?? double.NaN);
        return new RoundReport(roundNumber, roundId, RoundStatus.Completed, current.Record.Version, model.Record.Version, eligible.Count, selected.Count, target,
            aggregate.Contributors, aggregate.Samples, rejected, byReason, model.Record.EvalAccuracy, model.Record.EvalLoss, aggregate.MeanLocalLoss, bytesUp, clock.Elapsed)
        {
            Notes = aggregate.Notes,
        };
    }

    /// <summary>Applies a combined delta through the strategy's server optimizer, registers and announces the new version.</summary>
    private async Task<GlobalModel> PublishAggregateAsync(GlobalModel current, RoundAggregate aggregate, long roundNumber, CancellationToken cancellationToken)
    {
        var next = current.Weights.Clone();
        Strategy.Apply(next.Values, aggregate.MeanDelta);
        var model = RegisterVersion(next, current.Record.Version, roundNumber, aggregate.Contributors, aggregate.Samples, aggregate.MeanLocalLoss);
        PromoteReference(model.Record.Version, current.Record.Version);
        Registry.SaveStrategyState(_options.ModelName, model.Record.Version, Strategy.SaveState());
        _current = model;
        await AnnounceAsync(model, cancellationToken).ConfigureAwait(false);
        return model;
    }

    /// <summary>Reports to wait for, the quorum, and how many devices to ask, for <paramref name="eligible"/> online.</summary>
    private (int Target, int Quorum, int SelectCount) Plan(int eligible)
    {
        var rounds = _options.Rounds;
        var target = rounds.ClientsPerRound > 0
            ? Math.Min(rounds.ClientsPerRound, eligible)
            : Math.Max(1, (int)Math.Ceiling(rounds.Fraction * eligible));
        var quorum = Math.Max(1, (int)Math.Ceiling(rounds.MinQuorum * target));
        return (target, quorum, Math.Min(eligible, (int)Math.Ceiling(target * rounds.OverSelection)));
    }

    private TrainConfig BaseTrainConfig() => new()
    {
        LocalEpochs = (uint)_options.Rounds.LocalEpochs,
        BatchSize = (uint)_options.Rounds.BatchSize,
        LearningRate = _options.Rounds.LearningRate,
        MaxSamples = (uint)_options.Rounds.MaxSamplesPerDevice,
    };

    /// <summary>Asks about <see cref="MonitoringOptions.ReferenceDevicesPerRound"/> of <paramref name="devices"/> for sketches of their training samples.</summary>
    private TrainConfig WithTrainingProfiles(TrainConfig config, int devices)
    {
        var copy = config.Clone();
        copy.TrainingProfileShare = devices == 0 ? 0 : (float)Math.Min(1.0, (double)_options.Monitoring.ReferenceDevicesPerRound / devices);
        return copy;
    }

    /// <summary>A TRAIN task; <paramref name="seedSalt"/> (round or task number) varies the devices' local shuffling.</summary>
    private RoundTask TrainTask(string roundId, long roundNumber, ulong baseVersion, TrainConfig config, DateTimeOffset deadline, ulong seedSalt) => new()
    {
        RoundId = roundId,
        RoundNumber = (ulong)roundNumber,
        ModelName = _options.ModelName,
        BaseVersion = baseVersion,
        Kind = TaskKind.Train,
        Config = config,
        DeadlineUnixMs = deadline.ToUnixTimeMilliseconds(),
        Seed = (ulong)_options.Seed * 1_000_003UL + seedSalt,
    };

    private Task SendTasksAsync(RoundTask task, IEnumerable<string> deviceIds, CancellationToken cancellationToken) =>
        Task.WhenAll(deviceIds.Select(async deviceId =>
        {
            var copy = task.Clone();
            copy.Header = NewHeader();
            copy.DeviceId = deviceId;
            await _publisher.PublishAsync(_topics.Task(deviceId), Keys.Sign(copy).ToByteArray(), cancellationToken).ConfigureAwait(false);
        }));

    private RoundReport NotStartedReport(long roundNumber, string roundId, RoundStatus status, int eligible, int target, TimeSpan elapsed, string? reason) =>
        new(roundNumber, roundId, status, _current.Record.Version, null, eligible, 0, target, 0, 0, 0,
            new Dictionary<string, long>(), null, null, double.NaN, 0, elapsed)
        {
            StopReason = reason,
        };

    private TimeSpan Remaining(DateTimeOffset deadline)
    {
        var left = deadline - _time.GetUtcNow();
        return left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1);
    }

    private static Dictionary<string, long> Diff(IReadOnlyDictionary<string, long> after, IReadOnlyDictionary<string, long> before) =>
        after.Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value);
}
