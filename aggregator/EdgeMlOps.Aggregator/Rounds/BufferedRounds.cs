using System.Diagnostics;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// Buffered asynchronous aggregation (FedBuff): keeps <see cref="RoundOptions.Concurrency"/> devices training on the
/// version current when each was asked, folds their updates into a buffer as they arrive (discounted by staleness,
/// refused past the cap), and publishes a version every <see cref="RoundOptions.BufferSize"/> updates. Slow devices
/// still count: their updates join a later buffer.
/// </summary>
public sealed class BufferedRounds(
    AggregatorOptions options, ModelRepository models, FederatedStrategy strategy, DeviceDirectory devices, FleetStores stores,
    RejectionCounters rejections, OpenRounds open, TaskDispatcher tasks, VersionCommitter committer, TimeProvider time, ILogger logger)
{
    private long _dispatched;

    /// <summary>Runs until <paramref name="versions"/> versions were published (or the strategy stops); one report per version.</summary>
    public async Task<IReadOnlyList<RoundReport>> RunAsync(int versions, CancellationToken cancellationToken)
    {
        await open.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunUnderGateAsync(versions, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            open.CloseBuffer();
            open.Gate.Release();
        }
    }

    private async Task<IReadOnlyList<RoundReport>> RunUnderGateAsync(int versions, CancellationToken cancellationToken)
    {
        var rounds = options.Rounds;
        var reports = new List<RoundReport>();
        var deadlines = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var roundNumber = stores.Registry.LastRound(options.ModelName) + 1;
        var context = BufferContext(roundNumber);
        var head = models.Head;
        var buffer = new AsyncUpdateBuffer(options.ModelName, head.Weights.Layout, strategy, rounds.BufferSize, rounds.StalenessCap, context);
        buffer.SetCurrentVersion(head.Record.Version);
        open.Open(buffer);
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var rejectionsBefore = rejections.Snapshot();

        while (reports.Count < versions)
        {
            if ((ServeOnlyModel.StopReason(options) ?? strategy.StopReason(context)) is { } stop)
            {
                logger.LogStopped($"{options.ModelName}-b{roundNumber}", stop);
                reports.Add(RoundReports.NotStarted(roundNumber, $"{options.ModelName}-b{roundNumber}", RoundStatus.Stopped, models.Head.Record.Version, devices.Eligible().Count, rounds.BufferSize, clock.Elapsed, stop));
                break;
            }

            // Tasks past their deadline free their device.
            var now = time.GetUtcNow();
            foreach (var (taskId, deadline) in deadlines.Where(d => d.Value < now).ToList())
            {
                deadlines.Remove(taskId);
                buffer.Expire(taskId);
            }

            if (!buffer.IsFull)
            {
                // Publish before asking anyone else, so new tasks train the newest version.
                await TopUpAsync(buffer, deadlines, context, cancellationToken).ConfigureAwait(false);
                await open.WaitForProgressAsync(TimeSpan.FromMilliseconds(200), cancellationToken).ConfigureAwait(false);
                continue;
            }

            var current = models.Head;
            var bufferId = $"{options.ModelName}-b{roundNumber}-v{current.Record.Version}";
            var next = BufferContext(roundNumber + 1);
            var aggregate = buffer.Flush(next);
            var model = await committer.CommitAsync(current, aggregate, roundNumber, roundId: null, cancellationToken).ConfigureAwait(false); // a buffer holds updates of many tasks
            buffer.SetCurrentVersion(model.Record.Version);
            var byReason = RoundReports.Diff(rejections.Snapshot(), rejectionsBefore);
            stores.Registry.AddRound(new RoundRecord(options.ModelName, roundNumber, bufferId, current.Record.Version, RoundStatus.Completed, buffer.Outstanding,
                aggregate.Contributors, aggregate.Samples, byReason.Values.Sum(), model.Record.Version, started, time.GetUtcNow(), aggregate.Notes));
            logger.LogBufferFlushed(bufferId, model.Record.Version, aggregate.Contributors, aggregate.Notes.GetValueOrDefault("fedbuff.mean_staleness"), AggregatorLog.HeldOut(model.Record.EvalAccuracy, options.Model.AccuracyName));
            reports.Add(new RoundReport(roundNumber, bufferId, RoundStatus.Completed, current.Record.Version, model.Record.Version, devices.Eligible().Count,
                buffer.Outstanding, rounds.BufferSize, aggregate.Contributors, aggregate.Samples, byReason.Values.Sum(), byReason,
                model.Record.EvalAccuracy, model.Record.EvalLoss, aggregate.MeanLocalLoss, open.TakeBytes(), clock.Elapsed)
            {
                Notes = aggregate.Notes,
                EvalTasks = model.Record.TaskScores,
            });

            roundNumber++;
            context = next;
            started = time.GetUtcNow();
            clock.Restart();
            rejectionsBefore = rejections.Snapshot();
        }

        return reports;
    }

    /// <summary>Asks idle eligible devices to train the current version until <see cref="RoundOptions.Concurrency"/> are busy.</summary>
    private async Task TopUpAsync(AsyncUpdateBuffer buffer, Dictionary<string, DateTimeOffset> deadlines, RoundContext context, CancellationToken cancellationToken)
    {
        var need = options.Rounds.Concurrency - buffer.Outstanding;
        if (need <= 0) return;
        var busy = buffer.BusyDevices;
        var idle = devices.Eligible().Select(d => d.DeviceId).Where(id => !busy.Contains(id)).ToArray();
        if (idle.Length == 0) return;

        var current = models.Head;
        // Each top-up draws afresh (seeded by how many tasks went out before it), so idle devices rotate.
        var fit = strategy.ConfigureFit(context with { SelectCount = Math.Min(need, idle.Length), Seed = (ulong)options.Seed * 1_000_003UL + (ulong)Interlocked.Read(ref _dispatched) }, idle, tasks.BaseConfig());
        var deadline = time.GetUtcNow() + options.Rounds.ReportDeadline;
        var sends = new List<Task>(fit.Selected.Count);
        foreach (var deviceId in fit.Selected)
        {
            var number = Interlocked.Increment(ref _dispatched);
            var taskId = $"{options.ModelName}-b{context.RoundNumber}-t{number}-v{current.Record.Version}";
            buffer.Issue(taskId, deviceId, current.Record.Version);
            deadlines[taskId] = deadline;
            var task = tasks.TrainTask(taskId, context.RoundNumber, current.Record.Version, tasks.WithTrainingProfiles(fit.Config, options.Rounds.BufferSize), deadline, (ulong)number);
            sends.Add(tasks.SendAsync(task, [deviceId], cancellationToken));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
    }

    private RoundContext BufferContext(long roundNumber)
    {
        var eligible = devices.Eligible().Count;
        return new RoundContext(roundNumber, eligible, options.Rounds.BufferSize, Math.Min(eligible, options.Rounds.Concurrency), (ulong)options.Seed);
    }
}
