using System.Diagnostics;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// Synchronous federated rounds: size the round (<see cref="RoundPlan"/>), select with over-selection through the
/// strategy, send signed tasks, fold updates in as they arrive until the target or the deadline, then commit a new
/// version or, under quorum, abandon the round and keep the model. Every round is recorded.
/// </summary>
public sealed class RoundCoordinator(
    AggregatorOptions options, ModelRepository models, FederatedStrategy strategy, DeviceDirectory devices, FleetStores stores, DriftWatch drift,
    RejectionCounters rejections, OpenRounds open, TaskDispatcher tasks, VersionCommitter committer, TimeProvider time, ILogger logger)
{
    /// <summary>With replicas, those connected but starved of updates (their broker rule missing).</summary>
    public ReplicaWatch Replicas { get; } = new(options.Replicas.Name, logger);

    /// <summary>Runs one round (one at a time with buffers, evaluations and uploads).</summary>
    public async Task<RoundReport> RunAsync(CancellationToken cancellationToken)
    {
        await open.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunUnderGateAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            open.Gate.Release();
        }
    }

    private async Task<RoundReport> RunUnderGateAsync(CancellationToken cancellationToken)
    {
        var rounds = options.Rounds;
        var current = models.Head;
        var roundNumber = stores.Registry.LastRound(options.ModelName) + 1;
        var roundId = $"{options.ModelName}-r{roundNumber}-v{current.Record.Version}";
        var started = time.GetUtcNow();
        var clock = Stopwatch.StartNew();
        var eligible = devices.Eligible();
        open.Turnout.Settle(); // the previous round's stragglers had until now
        var plan = RoundPlan.For(rounds, eligible.Count, open.Turnout);
        var context = new RoundContext(roundNumber, eligible.Count, plan.Target, plan.SelectCount, (ulong)options.Seed);
        if (ServeOnlyModel.StopReason(options) is { } served)
        {
            logger.LogStopped(roundId, served);
            return RoundReports.NotStarted(roundNumber, roundId, RoundStatus.Stopped, current.Record.Version, eligible.Count, plan.Target, clock.Elapsed, served);
        }

        if (plan.Shortfall(rounds, eligible.Count) is { } needed)
        {
            logger.LogNotStarted(roundId, eligible.Count, needed);
            return RoundReports.NotStarted(roundNumber, roundId, RoundStatus.NotStarted, current.Record.Version, eligible.Count, plan.Target, clock.Elapsed, null);
        }

        if (strategy.StopReason(context) is { } stop)
        {
            logger.LogStopped(roundId, stop);
            return RoundReports.NotStarted(roundNumber, roundId, RoundStatus.Stopped, current.Record.Version, eligible.Count, plan.Target, clock.Elapsed, stop);
        }

        // Devices execute a round id once. A round re-run after a crash (nothing recorded, tasks already out) gets a
        // new id, or every device that saw the first attempt would skip it and it would be abandoned at the deadline.
        var attempt = stores.Registry.BeginRoundAttempt(options.ModelName, roundNumber);
        if (attempt > 1) roundId = FormattableString.Invariant($"{roundId}-a{attempt}");
        var fit = strategy.ConfigureFit(context, eligible.Select(d => d.DeviceId).ToArray(), tasks.BaseConfig());
        var selected = fit.Selected;
        var accumulator = new RoundAccumulator(roundId, options.ModelName, current.Record.Version, current.Weights.Layout, selected, strategy, context) { Claim = ClaimFor(roundId) };
        drift.Monitor.DiscardTraining();
        var rejectionsBefore = rejections.Snapshot();
        var deadline = started + rounds.ReportDeadline;
        stores.Shares?.Open(new SharedRound(roundId, options.ModelName, current.Record.Version, roundNumber, selected, eligible.Count, plan.Target, plan.SelectCount,
            (ulong)options.Seed, deadline), time.GetUtcNow()); // before any task: a replica finds the round an update names
        open.Open(accumulator);

        open.Turnout.Begin(roundId, selected, deadline);
        var task = tasks.TrainTask(roundId, roundNumber, current.Record.Version, tasks.WithTrainingProfiles(fit.Config, selected.Count), deadline, (ulong)roundNumber);
        logger.LogRoundStarted(roundId, eligible.Count, selected.Count, plan.Target);
        await tasks.SendAsync(task, selected, cancellationToken).ConfigureAwait(false);

        using (var timeout = new CancellationTokenSource(RoundReports.Remaining(deadline, time), time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
        {
            try
            {
                while (Accepted(accumulator) < plan.Target && SomeoneLeft(accumulator)) await WaitForProgressAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Deadline: close with what arrived.
            }
        }

        if (open.Turnout.Withdrawn is > 0 and var withdrawn && Accepted(accumulator) < plan.Target && !SomeoneLeft(accumulator))
        {
            logger.LogNobodyLeft(roundId, withdrawn);
        }

        var fellShort = Accepted(accumulator) < plan.Target;
        open.Close(accumulator);
        MergeShares(accumulator, fellShort);
        var aggregate = accumulator.Close(plan.Quorum);
        var byReason = RoundReports.Diff(rejections.Snapshot(), rejectionsBefore);
        var rejected = byReason.Values.Sum();
        var bytesUp = open.BytesUp;

        if (aggregate.Contributors < plan.Quorum)
        {
            logger.LogAbandoned(roundId, aggregate.Contributors, plan.Quorum);
            stores.Registry.AddRound(new RoundRecord(options.ModelName, roundNumber, roundId, current.Record.Version, RoundStatus.Abandoned, selected.Count,
                aggregate.Contributors, aggregate.Samples, rejected, null, started, time.GetUtcNow()));
            return new RoundReport(roundNumber, roundId, RoundStatus.Abandoned, current.Record.Version, null, eligible.Count, selected.Count, plan.Target,
                aggregate.Contributors, aggregate.Samples, rejected, byReason, null, null, aggregate.MeanLocalLoss, bytesUp, clock.Elapsed);
        }

        var model = await committer.CommitAsync(current, aggregate, roundNumber, accumulator.RoundId, cancellationToken).ConfigureAwait(false);
        stores.Registry.AddRound(new RoundRecord(options.ModelName, roundNumber, roundId, current.Record.Version, RoundStatus.Completed, selected.Count,
            aggregate.Contributors, aggregate.Samples, rejected, model.Record.Version, started, time.GetUtcNow(), aggregate.Notes));
        logger.LogRoundCompleted(roundId, model.Record.Version, aggregate.Contributors, aggregate.Samples, AggregatorLog.HeldOut(model.Record.EvalAccuracy, options.Model.AccuracyName));
        return new RoundReport(roundNumber, roundId, RoundStatus.Completed, current.Record.Version, model.Record.Version, eligible.Count, selected.Count, plan.Target,
            aggregate.Contributors, aggregate.Samples, rejected, byReason, model.Record.EvalAccuracy, model.Record.EvalLoss, aggregate.MeanLocalLoss, bytesUp, clock.Elapsed)
        {
            Notes = aggregate.Notes,
            EvalTasks = model.Record.TaskScores,
            Contributions = aggregate.ContributorSamples,
            PeakUpdatesPerSecond = open.Arrivals.PeakPerSecond(),
            ArrivalSpreadSeconds = open.Arrivals.SpreadSeconds(),
        };
    }

    /// <summary>With replicas, a device's one contribution to the round is claimed in the shared store, whichever replica takes it.</summary>
    private Func<string, ClaimOutcome>? ClaimFor(string roundId) => stores.Shares?.ClaimsFor(roundId);

    /// <summary>
    /// Whether something the round can still receive has not arrived: a selected device that can still report and has
    /// not, counted here — and, once a selected device was revoked mid-round, with replicas also by the claims other
    /// processes made, whose updates reach this process only in the shares they write: a claimed update is waited for
    /// until its share is written (closing at the claim lost it — the round was abandoned with the update in a replica).
    /// </summary>
    private bool SomeoneLeft(RoundAccumulator round)
    {
        if (stores.Shares is not { } shares || open.Turnout.Withdrawn == 0) return open.Turnout.Outstanding > 0;
        var claimed = shares.Claimed(round.RoundId);
        return open.Turnout.OutstandingBesides(claimed) > 0 || Accepted(round) < claimed.Count;
    }

    /// <summary>Updates taken so far: here, and by the replicas in the shares they wrote.</summary>
    private long Accepted(RoundAccumulator round) => round.AcceptedCount + (stores.Shares?.SharedUpdates(round.RoundId) ?? 0);

    /// <summary>Until an update arrives here, or (with replicas, whose shares arrive through the store) a share interval passed.</summary>
    private Task WaitForProgressAsync(CancellationToken cancellationToken) => stores.Shares is null
        ? open.WaitForProgressAsync(cancellationToken)
        : open.WaitForProgressAsync(options.Replicas.FlushInterval, cancellationToken);

    /// <summary>
    /// Closes the round to the replicas and adds the shares they wrote; a share that does not fit is refused whole,
    /// counted and logged. Then tells <see cref="Replicas"/> which connected replica shared in a round that <paramref name="fellShort"/>.
    /// </summary>
    private void MergeShares(RoundAccumulator round, bool fellShort)
    {
        if (stores.Shares is not { } shares) return;
        var (merged, updates, now, own) = (0, 0, time.GetUtcNow(), round.AcceptedCount);
        var sharing = new HashSet<string>(StringComparer.Ordinal);
        foreach (var share in shares.Close(round.RoundId))
        {
            sharing.Add(share.Replica); // a share refused below still shows its replica takes updates
            var outcome = round.Merge(share);
            if (!outcome.Accepted)
            {
                rejections.Add(outcome.Reason);
                logger.LogShareRefused(round.RoundId, share.Replica, outcome.Reason, outcome.Detail);
                continue;
            }

            (merged, updates) = (merged + 1, updates + (int)share.Count);
            foreach (var contributor in share.Contributors) open.Turnout.Reported(round.RoundId, contributor.DeviceId, now);
        }

        logger.LogSharesMerged(round.RoundId, merged, updates);
        try
        {
            Replicas.Observe(round.RoundId, shares.PresentSince(now - 3 * ReplicaWatch.PresenceInterval), sharing, own, fellShort);
        }
        catch (System.Data.Common.DbException)
        {
            // Who is connected is not known this time: the watch waits for the next round.
        }
    }
}
