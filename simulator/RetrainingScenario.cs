using System.Diagnostics;
using System.Text.Json;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Pipeline;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator;

/// <summary>The ground-truth accuracy the aggregator measured in one window, per region, for the version most devices served.</summary>
public sealed record RegionAccuracy(long Window, double Seconds, ulong Version, double Shifted, long ShiftedLabels, double Stable, long StableLabels);

/// <summary>One event of the loop, in seconds since the drift began (negative: before).</summary>
public sealed record TimelineEvent(double Seconds, string Event, string Detail);

/// <summary>What <see cref="RetrainingScenario"/> found.</summary>
public sealed record RetrainingScenarioResult(
    int Devices,
    ulong DeployedBefore,
    ulong DeployedAfter,
    PipelineRun Run,
    IReadOnlyList<TimelineEvent> Timeline,
    IReadOnlyList<RegionAccuracy> Accuracy,
    string? SecondApprovalByFirstApprover,
    bool StartedWhilePaused,
    bool AuditIntact,
    double SetupSeconds)
{
    public void WriteJson(Stream stream) =>
        JsonSerializer.Serialize(stream, this, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}

/// <summary>
/// The automated retraining loop end to end over real MQTT: N real agents (30% in region "shifted"), a governed
/// aggregator whose retraining pipeline is enabled, apps sending predictions and their ground truth. A version trained
/// by federated rounds is approved and served everywhere. Then the shifted region's sensors are recalibrated (every
/// input offset by <c>offset</c>) and its accuracy collapses; the aggregator's drift alert starts a pipeline run on its
/// own: federated rounds from the deployed version on the devices' fresh labels, the gates, two approvals by different
/// people (four eyes; the same person twice is refused), a shadow on the canary's devices, the staged rollout — and the
/// shifted region's accuracy comes back while the stable region's stays.
/// </summary>
public sealed class RetrainingScenario(SimulationOptions options, ILoggerFactory? loggerFactory = null, TextWriter? progress = null)
{
    /// <summary>Labelled samples a device keeps (its newest): a small sensor learns from what it saw lately.</summary>
    public const int RecentSamples = 250;

    private readonly ILoggerFactory _loggers = loggerFactory ?? NullLoggerFactory.Instance;

    public static string RegionOf(string deviceId) => int.Parse(deviceId[4..], System.Globalization.CultureInfo.InvariantCulture) % 10 < 3 ? "shifted" : "stable";

    /// <summary>The pipeline policy the scenario runs: drift starts a run; every gate on; two approvers; shadow then three stages.</summary>
    public static PipelinePolicy Policy(int devices) => new()
    {
        Enabled = true,
        Rounds = 6,
        FreshLabels = 4000,
        Approvals = 2,
        CheckInterval = TimeSpan.FromMilliseconds(500),
        Triggers = new PipelineTriggerPolicy { OnDrift = true, AccuracyDrop = 0.05, MinOutcomes = 100, Cooldown = TimeSpan.FromHours(1) },
        Gates = new CandidateGateLimits
        {
            MaxHeldOutDrop = 0.03,
            FederatedDevices = devices,
            MaxFederatedDrop = 0.02,
            MinTopInputOverlap = 0.3,
            MaxSubgroupGapIncrease = 0.10,
            MaxLatencyRatio = 3.0,
            MinTrainingSamples = 100,
        },
        Rollout = new RolloutRequest
        {
            // Shares are drawn by a hash of the rollout id: 10% of 40 devices holds fewer than the 2 devices the gates need in
            // ~8% of rollouts (which then wait for devices that never come); 20% does in ~0.15%.
            Stages = [0.2, 0.5, 1.0],
            Shadow = new ShadowRequest { Share = 0.2, MinDevices = 2, MinScored = 100, MaxCpuShare = 0.5, MaxLatencyP95Ratio = 3.0 },
            Health = new HealthWindow { WindowSeconds = 2, MaxErrorRate = 0.01 },
            Gates = new RolloutGates { MinDevicesReporting = 2, MinReportingFraction = 0.8, MaxFailureRate = 0.05, MaxAccuracyDrop = 0.05, MinFeedback = 30, MaxLatencyP95Ratio = 0 },
        },
    };

    /// <summary>Runs the loop; the windows are the aggregator's monitoring windows.</summary>
    /// <param name="offset">What region shifted's recalibration adds to every input.</param>
    /// <param name="windowSeconds">The monitoring window (devices send their profiles as often).</param>
    /// <param name="windowsBefore">Windows of traffic before the drift (the accuracy the drop is judged against).</param>
    /// <param name="windowsAfter">Windows of traffic after the pipeline's run ended.</param>
    /// <param name="cancellationToken">Stops the scenario.</param>
    /// <param name="pausedWindows">Windows the pipeline stays paused once the drift began (an operator's change freeze): no run may start.</param>
    public async Task<RetrainingScenarioResult> RunAsync(double offset, double windowSeconds, int windowsBefore, int windowsAfter, CancellationToken cancellationToken, int pausedWindows = 0)
    {
        var setup = Stopwatch.StartNew();
        var simulated = SimulatedData.Load(options);
        var (data, pool, test, parts) = simulated;
        var work = SimulatedData.WorkDirectory(options, "retraining");
        var window = TimeSpan.FromSeconds(windowSeconds);
        var aggregatorOptions = simulated.AggregatorOptions(options, work) with
        {
            Governance = new GovernanceOptions { Mode = DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromMilliseconds(250) },
            Monitoring = new MonitoringOptions { Window = window, CohortTag = "region", RetainedWindows = 200, ReferenceDevicesPerRound = options.Devices },
            Pipeline = Policy(options.Devices),
        };
        var shift = new RegionShift((float)offset);
        try
        {
            await using var fleet = await SimulatedFleet.StartAsync(
                aggregatorOptions, new HeldOutEvaluator(test.Features, test.Labels), pool, parts, Agent.AgentFaults.None, options.ComputeSlots,
                id => new Dictionary<string, string> { ["region"] = RegionOf(id) }, null, work, _loggers, cancellationToken,
                configure: o => o with { ProfileWindow = window, MaxSamples = RecentSamples }, channels: options.CreateChannels(), inMemoryStores: options.InMemoryDeviceStores).ConfigureAwait(false);
            var node = fleet.Aggregator;

            // The version the fleet serves before the drift: federated rounds, approved by a person, rolled out to everyone.
            for (var r = 0; r < options.Rounds; r++) await node.RunRoundAsync(cancellationToken).ConfigureAwait(false);
            var first = node.CurrentVersion;
            node.Governance.Approve("ops-alice", first.Model, first.Version, "initial federated model");
            await node.Rollouts.CreateAsync("ops-alice", new RolloutRequest { Version = first.Version, Stages = [1.0], Reason = "first version", Health = new HealthWindow { WindowSeconds = 1 } }, cancellationToken).ConfigureAwait(false);
            await SimulatedFleet.WaitUntilAsync(() => fleet.Agents.All(a => a.ModelVersion == first.Version) && node.DeployedVersion?.Version == first.Version, TimeSpan.FromMinutes(2), $"every device on v{first.Version}", cancellationToken).ConfigureAwait(false);
            setup.Stop();
            progress?.WriteLine($"setup: {options.Devices} agents, {options.Rounds} rounds -> v{first.Version} deployed everywhere (held-out accuracy {first.EvalAccuracy:F4}) in {setup.Elapsed.TotalSeconds:F1} s");

            using var stopTraffic = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var traffic = Task.Run(() => TrafficAsync(fleet, test, shift, stopTraffic.Token), CancellationToken.None);
            var clock = Stopwatch.StartNew();
            var trafficStart = DateTimeOffset.UtcNow;
            string? refused = null;
            try
            {
                await Task.Delay(window * windowsBefore, cancellationToken).ConfigureAwait(false);
                shift.Start();
                progress?.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s: region shifted recalibrated (every input offset by {offset})");
                var startedWhilePaused = false;
                if (pausedWindows > 0)
                {
                    node.Pipeline.Pause("ops-bob", "change freeze");
                    await Task.Delay(window * pausedWindows, cancellationToken).ConfigureAwait(false);
                    startedWhilePaused = node.Pipeline.Active is not null;
                    node.Pipeline.Resume("ops-bob", "freeze over");
                    progress?.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s: pipeline paused for {pausedWindows} windows (a run started meanwhile: {startedWhilePaused}); resumed");
                }

                var run = await WaitForRunAsync(node, r => r.Stage == PipelineStage.AwaitingApproval || r.IsFinal, TimeSpan.FromMinutes(4), "the pipeline to train and validate", cancellationToken).ConfigureAwait(false);
                Report(run, clock, shift);
                if (run.Stage == PipelineStage.AwaitingApproval)
                {
                    await node.Pipeline.ApproveAsync("ops-alice", "gates and the card look right", cancellationToken).ConfigureAwait(false);
                    try
                    {
                        await node.Pipeline.ApproveAsync("ops-alice", "approving twice", cancellationToken).ConfigureAwait(false);
                    }
                    catch (GovernanceException ex)
                    {
                        refused = ex.Message;
                    }

                    await node.Pipeline.ApproveAsync("ops-carol", "second pair of eyes", cancellationToken).ConfigureAwait(false);
                    run = await WaitForRunAsync(node, r => r.IsFinal, TimeSpan.FromMinutes(4), "the pipeline's rollout", cancellationToken).ConfigureAwait(false);
                }

                await Task.Delay(window * windowsAfter, cancellationToken).ConfigureAwait(false);
                var final = node.Pipeline.Find(run.Id) ?? run;
                var accuracy = Accuracy(node, trafficStart, shift);
                foreach (var a in accuracy) progress?.WriteLine($"window {a.Window} ({a.Seconds,6:F1} s) v{a.Version}: shifted {a.Shifted:F4} ({a.ShiftedLabels} labels), stable {a.Stable:F4} ({a.StableLabels})");
                var pauses = node.Audit.Entries($"pipeline/{node.Options.ModelName}").Where(e => e.Action is "pipeline.pause" or "pipeline.resume" && e.Subject == $"pipeline/{node.Options.ModelName}")
                    .Select(e => new TimelineEvent((e.At - shift.StartedAt).TotalSeconds, e.Action["pipeline.".Length..], $"{e.Actor}: {e.Reason}"));
                var timeline = final.Steps.Select(s => new TimelineEvent((s.At - shift.StartedAt).TotalSeconds, s.Step, s.Detail)).Concat(pauses)
                    .Append(new TimelineEvent(0, "drift", $"every input of region shifted offset by {offset}")).OrderBy(e => e.Seconds).ToArray();
                foreach (var e in timeline) progress?.WriteLine($"{e.Seconds,7:F1} s  {e.Event,-14} {e.Detail}");
                var audit = node.Audit.Verify();
                return new RetrainingScenarioResult(options.Devices, first.Version, node.DeployedVersion?.Version ?? 0, final, timeline, accuracy, refused, startedWhilePaused, audit.Intact, setup.Elapsed.TotalSeconds);
            }
            finally
            {
                await stopTraffic.CancelAsync().ConfigureAwait(false);
                await traffic.ConfigureAwait(false);
            }
        }
        finally
        {
            if (options.WorkDirectory is null) SimulationRunner.RemoveWork(work, options);
        }
    }

    private void Report(PipelineRun run, Stopwatch clock, RegionShift shift) =>
        progress?.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s: run {run.Id} ({run.Trigger.Kind}, {(run.StartedAt - shift.StartedAt).TotalSeconds:F1} s after the drift) is {run.Stage}: {run.Note}");

    private static async Task<PipelineRun> WaitForRunAsync(AggregatorNode node, Func<PipelineRun, bool> done, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        PipelineRun? seen = null;
        try
        {
            await SimulatedFleet.WaitUntilAsync(() =>
            {
                seen = node.Pipeline.Active ?? node.Pipeline.Runs(1).FirstOrDefault();
                return seen is not null && done(seen);
            }, timeout, what, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            // Where the run stood, so a timeout names the step it was stuck in rather than only the wait.
            var rollout = seen?.RolloutId is { } id ? node.Rollouts.Find(id) : null;
            var steps = string.Join("; ", (seen?.Steps ?? []).TakeLast(4).Select(s => $"{s.Step}: {s.Detail}"));
            throw new TimeoutException(FormattableString.Invariant(
                $"{ex.Message} Run {seen?.Id ?? "(none)"} is {seen?.Stage} ({seen?.Note}); last steps: {steps}; rollout: {(rollout is null ? "none" : $"{rollout.State}, stage {rollout.Stage + 1} of {rollout.Stages.Length}: {rollout.Note}")}."), ex);
        }

        return seen!;
    }

    /// <summary>Per judged window, each region's ground-truth accuracy of the version that got the most labels there.</summary>
    private static RegionAccuracy[] Accuracy(AggregatorNode node, DateTimeOffset trafficStart, RegionShift shift)
    {
        var width = (long)node.Options.Monitoring.Window.TotalMilliseconds;
        return node.RecentDrift.Where(r => r.Cohort != FleetMonitor.AllCohorts).GroupBy(r => r.Window).OrderBy(g => g.Key)
            .Select(g =>
            {
                DriftReport? Best(string region) => g.Where(r => r.Cohort == region).MaxBy(r => r.Outcomes);
                var (s, t) = (Best("shifted"), Best("stable"));
                var end = DateTimeOffset.FromUnixTimeMilliseconds((g.Key + 1) * width);
                return new RegionAccuracy(g.Key, (end - shift.StartedAt).TotalSeconds, (s ?? t)?.Version ?? 0, s?.Accuracy ?? double.NaN, s?.Outcomes ?? 0, t?.Accuracy ?? double.NaN, t?.Outcomes ?? 0);
            })
            .Where(a => shift.StartedAt.AddSeconds(a.Seconds) > trafficStart)
            .ToArray();
    }

    /// <summary>Apps on the devices: predictions on held-out rows (offset in region shifted once the drift began), each followed by its ground truth.</summary>
    private static async Task TrafficAsync(SimulatedFleet fleet, Dataset samples, RegionShift shift, CancellationToken cancellationToken)
    {
        var random = new Random(11);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                for (var n = 0; n < 15; n++)
                {
                    var agent = fleet.Agents[random.Next(fleet.Agents.Length)];
                    var row = random.Next(samples.Count);
                    var x = samples.Row(row);
                    if (shift.Active && RegionOf(agent.DeviceId) == "shifted") shift.Apply(x);
                    try
                    {
                        var prediction = agent.Predict(x);
                        agent.Feedback(prediction.PredictionId, samples.Labels[row]);
                    }
                    catch (InvalidOperationException)
                    {
                        // Between versions: no model loaded for an instant.
                    }
                }

                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The recalibration of region shifted: from its start, every input reads <c>offset</c> higher.</summary>
    private sealed class RegionShift(float offset)
    {
        private volatile bool _active;

        public bool Active => _active;

        public DateTimeOffset StartedAt { get; private set; } = DateTimeOffset.MaxValue;

        public void Start()
        {
            StartedAt = DateTimeOffset.UtcNow;
            _active = true;
        }

        public void Apply(float[] x)
        {
            for (var i = 0; i < x.Length; i++) x[i] += offset;
        }
    }
}
