using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// Federated evaluation: asks eligible devices to score the training head on their own labelled samples and combines
/// the answers weighted by sample count (same deadline as rounds; one at a time with rounds and uploads).
/// </summary>
public sealed class FederatedEvaluationRunner(
    AggregatorOptions options, ModelRepository models, FederatedStrategy strategy, DeviceDirectory devices, OpenRounds open, TaskDispatcher tasks, Explanations.VersionExplainer explainer,
    Func<ulong, EdgeMlOps.Shared.Monitoring.WindowProfile?> references, TimeProvider time)
{
    private long _evaluations;

    /// <summary>
    /// Asks up to <paramref name="count"/> eligible devices; returns what they answered by the deadline. With
    /// <paramref name="importanceInputs"/>, devices also measure those inputs' permutation importance on their own rows.
    /// </summary>
    /// <remarks><paramref name="dependenceInputs"/>: inputs whose partial dependence devices measure, on a grid from the version's reference profile.</remarks>
    public async Task<FederatedEvaluationReport> RunAsync(int count, CancellationToken cancellationToken, IReadOnlyList<int>? importanceInputs = null, IReadOnlyList<int>? dependenceInputs = null)
    {
        if (!options.Model.IsClassifier) throw new InvalidOperationException($"{options.ModelName} is served by tensor names: devices hold no labelled samples to evaluate it on");
        if (options.Model.TakesTargets && (importanceInputs is { Count: > 0 } || dependenceInputs is { Count: > 0 }))
            throw new InvalidOperationException($"{options.ModelName} is {options.Model.KindName}: importance and dependence read one distribution over classes; its federated evaluation reports its loss and {options.Model.AccuracyName} only");
        var inputs = (importanceInputs ?? []).Distinct().ToArray();
        if (inputs.Any(i => i < 0 || i >= options.Model.InputDim)) throw new ArgumentOutOfRangeException(nameof(importanceInputs), $"inputs must be in [0, {options.Model.InputDim})");
        var curveInputs = (dependenceInputs ?? []).Distinct().ToArray();
        if (curveInputs.Any(i => i < 0 || i >= options.Model.InputDim)) throw new ArgumentOutOfRangeException(nameof(dependenceInputs), $"inputs must be in [0, {options.Model.InputDim})");
        var dependence = FederatedDependence.Requests(curveInputs, references(models.Head.Record.Version))
            ?? throw new InvalidOperationException($"v{models.Head.Record.Version} has no reference profile covering those inputs to place a partial-dependence grid on (devices send training-sample sketches with their updates: Monitoring:ReferenceDevicesPerRound)");

        await open.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = models.Head;
            var number = Interlocked.Increment(ref _evaluations);
            var roundId = $"{options.ModelName}-eval-{number}-v{current.Record.Version}-{Guid.NewGuid():N}";
            var ids = devices.Eligible().Select(d => d.DeviceId).ToArray();
            var context = new RoundContext(number, ids.Length, Math.Min(count, ids.Length), Math.Min(count, ids.Length), (ulong)options.Seed);
            var plan = strategy.ConfigureEvaluate(context, ids, tasks.BaseConfig());
            var selected = plan.Selected.ToArray();
            var asked = inputs.Select(i => (uint)i).ToArray();
            var evaluation = new FederatedEvaluation(roundId, current.Record.Version, selected, strategy, asked, dependence, options.Model.Classes, explainer.Options.FederatedPrivacy);
            open.Open(evaluation);
            var deadline = time.GetUtcNow() + options.Rounds.ReportDeadline;
            var task = new RoundTask
            {
                RoundId = roundId,
                ModelName = options.ModelName,
                BaseVersion = current.Record.Version,
                Kind = TaskKind.Evaluate,
                Config = plan.Config,
                DeadlineUnixMs = deadline.ToUnixTimeMilliseconds(),
                Seed = (ulong)options.Seed ^ (ulong)number,
                ImportanceInputs = { asked },
                Dependence = { dependence },
            };
            await tasks.SendAsync(task, selected, cancellationToken).ConfigureAwait(false);
            if (selected.Length == 0) evaluation.AllReported.TrySetResult(); // nobody to wait for

            using (var timeout = new CancellationTokenSource(RoundReports.Remaining(deadline, time), time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken))
            {
                try
                {
                    await evaluation.AllReported.Task.WaitAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                }
            }

            open.CloseEvaluation();
            var report = evaluation.Report();
            if (report.Importance is { } importance) explainer.RecordFederated(options.ModelName, importance);
            return report;
        }
        finally
        {
            open.Gate.Release();
        }
    }
}
