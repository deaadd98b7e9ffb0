using System.Diagnostics;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    private AsyncUpdateBuffer? _openBuffer;
    private long _dispatched;

    /// <summary>
    /// Buffered asynchronous aggregation (FedBuff): keeps <see cref="RoundOptions.Concurrency"/>
    /// devices training on the version current when each was asked, folds their updates into a
    /// buffer as they arrive (discounted by staleness, refused past the cap), and publishes a
    /// version every <see cref="RoundOptions.BufferSize"/> updates. Slow devices still count:
    /// their updates join a later buffer. Returns one report per published version.
    /// </summary>
    public async Task<IReadOnlyList<RoundReport>> RunBufferedAsync(int versions, CancellationToken cancellationToken)
    {
        await _roundGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunBufferedCoreAsync(versions, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _openBuffer, null);
            _roundGate.Release();
        }
    }

    private async Task<IReadOnlyList<RoundReport>> RunBufferedCoreAsync(int versions, CancellationToken cancellationToken)
    {
        var rounds = _options.Rounds;
        var reports = new List<RoundReport>();
        var deadlines = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var roundNumber = Registry.LastRound(_options.ModelName) + 1;
        var context = BufferContext(roundNumber);
        var buffer = new AsyncUpdateBuffer(_options.ModelName, _current.Weights.Layout, Strategy, rounds.BufferSize, rounds.StalenessCap, context);
        buffer.SetCurrentVersion(_current.Record.Version);
        _roundProgress = new SemaphoreSlim(0);
        Volatile.Write(ref _openBuffer, buffer);
        var started = _time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var rejectionsBefore = Rejections.Snapshot();
        Interlocked.Exchange(ref _roundBytesUp, 0);

        while (reports.Count < versions)
        {
            if (Strategy.StopReason(context) is { } stop)
            {
                LogStopped($"{_options.ModelName}-b{roundNumber}", stop);
                reports.Add(NotStartedReport(roundNumber, $"{_options.ModelName}-b{roundNumber}", RoundStatus.Stopped, Devices.Eligible().Count, rounds.BufferSize, clock.Elapsed, stop));
                break;
            }

            // Tasks past their deadline free their device.
            var now = _time.GetUtcNow();
            foreach (var (taskId, deadline) in deadlines.Where(d => d.Value < now).ToList())
            {
                deadlines.Remove(taskId);
                buffer.Expire(taskId);
            }

            if (!buffer.IsFull)
            {
                // Publish before asking anyone else, so new tasks train the newest version.
                await TopUpAsync(buffer, deadlines, context, cancellationToken).ConfigureAwait(false);
                await _roundProgress.WaitAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
                continue;
            }

            var current = _current;
            var bufferId = $"{_options.ModelName}-b{roundNumber}-v{current.Record.Version}";
            var next = BufferContext(roundNumber + 1);
            var aggregate = buffer.Flush(next);
            var model = await PublishAggregateAsync(current, aggregate, roundNumber, cancellationToken).ConfigureAwait(false);
            buffer.SetCurrentVersion(model.Record.Version);
            var byReason = Diff(Rejections.Snapshot(), rejectionsBefore);
            Registry.AddRound(new RoundRecord(_options.ModelName, roundNumber, bufferId, current.Record.Version, "completed", buffer.Outstanding,
                aggregate.Contributors, aggregate.Samples, byReason.Values.Sum(), model.Record.Version, started, _time.GetUtcNow(), aggregate.Notes));
            LogBufferFlushed(bufferId, model.Record.Version, aggregate.Contributors, aggregate.Notes.GetValueOrDefault("fedbuff.mean_staleness"), model.Record.EvalAccuracy ?? double.NaN);
            reports.Add(new RoundReport(roundNumber, bufferId, RoundStatus.Completed, current.Record.Version, model.Record.Version, Devices.Eligible().Count,
                buffer.Outstanding, rounds.BufferSize, aggregate.Contributors, aggregate.Samples, byReason.Values.Sum(), byReason,
                model.Record.EvalAccuracy, model.Record.EvalLoss, aggregate.MeanLocalLoss, Interlocked.Exchange(ref _roundBytesUp, 0), clock.Elapsed)
            {
                Notes = aggregate.Notes,
            });

            roundNumber++;
            context = next;
            started = _time.GetUtcNow();
            clock.Restart();
            rejectionsBefore = Rejections.Snapshot();
        }

        return reports;
    }

    /// <summary>Asks idle eligible devices to train the current version until <see cref="RoundOptions.Concurrency"/> are busy.</summary>
    private async Task TopUpAsync(AsyncUpdateBuffer buffer, Dictionary<string, DateTimeOffset> deadlines, RoundContext context, CancellationToken cancellationToken)
    {
        var need = _options.Rounds.Concurrency - buffer.Outstanding;
        if (need <= 0) return;
        var busy = buffer.BusyDevices;
        var idle = Devices.Eligible().Select(d => d.DeviceId).Where(id => !busy.Contains(id)).ToArray();
        if (idle.Length == 0) return;

        var current = _current;
        // Each top-up draws afresh (seeded by how many tasks went out before it), so idle devices rotate.
        var fit = Strategy.ConfigureFit(context with { SelectCount = Math.Min(need, idle.Length), Seed = (ulong)_options.Seed * 1_000_003UL + (ulong)Interlocked.Read(ref _dispatched) }, idle, BaseTrainConfig());
        var deadline = _time.GetUtcNow() + _options.Rounds.ReportDeadline;
        var sends = new List<Task>(fit.Selected.Count);
        foreach (var deviceId in fit.Selected)
        {
            var number = Interlocked.Increment(ref _dispatched);
            var taskId = $"{_options.ModelName}-b{context.RoundNumber}-t{number}-v{current.Record.Version}";
            buffer.Issue(taskId, deviceId, current.Record.Version);
            deadlines[taskId] = deadline;
            var task = TrainTask(taskId, context.RoundNumber, current.Record.Version, WithTrainingProfiles(fit.Config, _options.Rounds.BufferSize), deadline, (ulong)number);
            sends.Add(SendTasksAsync(task, [deviceId], cancellationToken));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    private RoundContext BufferContext(long roundNumber)
    {
        var eligible = Devices.Eligible().Count;
        return new RoundContext(roundNumber, eligible, _options.Rounds.BufferSize, Math.Min(eligible, _options.Rounds.Concurrency), (ulong)_options.Seed);
    }
}
