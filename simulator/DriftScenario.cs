using System.Diagnostics;
using System.Text.Json;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator;

/// <summary>One reporting window of the drift scenario, as the aggregator judged it.</summary>
public sealed record DriftWindow(
    int Index,
    bool Shifted,
    bool Complete,
    int[] DriftedInShiftedCohort,
    int[] DriftedInStableCohort,
    double FleetAccuracy,
    double ExactAccuracy,
    long Outcomes,
    bool PredictionsMovedInShiftedCohort = false,
    bool PredictionsMovedInStableCohort = false);

/// <summary>What <see cref="DriftScenario"/> found.</summary>
public sealed record DriftScenarioResult(int Devices, int Features, int[] ShiftedFeatures, int ShiftFrom, IReadOnlyList<DriftWindow> Windows, double SetupSeconds)
{
    /// <summary>Stable-cohort (window, feature) pairs flagged, over all judged pairs: the false-alarm rate.</summary>
    public double StableFalseAlarmRate => Windows.Count(w => w.Complete) == 0 ? double.NaN
        : (double)Windows.Where(w => w.Complete).Sum(w => w.DriftedInStableCohort.Length) / (Windows.Count(w => w.Complete) * Features);

    /// <summary>Complete windows in which the stable region's predicted classes were flagged as moved (prediction drift false alarms).</summary>
    public int StablePredictionAlarms => Windows.Count(w => w.Complete && w.PredictionsMovedInStableCohort);

    public void WriteJson(Stream stream) =>
        JsonSerializer.Serialize(stream, this, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}

/// <summary>
/// Input drift, fleet-wide, from sketches alone. N real agents (30% in region "shifted", the rest
/// in "stable") serve a model trained by federated rounds (its reference profile is merged from the
/// training sketches); apps send predictions and ground truth. From window <c>shiftFrom</c> on, two
/// features move by <c>shift</c> reference standard deviations on the shifted region's devices.
/// Each window the devices publish their profiles and the aggregator tests every feature per cohort.
/// </summary>
public sealed class DriftScenario(SimulationOptions options, ILoggerFactory? loggerFactory = null, TextWriter? progress = null)
{
    private readonly ILoggerFactory _loggers = loggerFactory ?? NullLoggerFactory.Instance;

    public static string RegionOf(int index) => index % 10 < 3 ? "shifted" : "stable";

    /// <param name="windows">Reporting windows to run.</param>
    /// <param name="shiftFrom">First window whose traffic is shifted in the shifted region.</param>
    /// <param name="shift">How far the two shifted features move, in reference standard deviations.</param>
    /// <param name="predictionsPerWindow">Predictions (with ground truth) each device serves per window.</param>
    /// <param name="cancellationToken">Stops the scenario.</param>
    /// <param name="windowSeconds">Length of a reporting window.</param>
    /// <param name="distanceThreshold">Normed Wasserstein distance that flags a feature (Evidently's 0.1 by default). Its
    /// false-alarm rate depends on the values per cohort and window: see docs/BENCHMARKS.md, "Drift across the fleet".</param>
    public async Task<DriftScenarioResult> RunAsync(int windows, int shiftFrom, double shift, int predictionsPerWindow, CancellationToken cancellationToken, double windowSeconds = 5, double distanceThreshold = 0.1)
    {
        var setup = Stopwatch.StartNew();
        var simulated = SimulatedData.Load(options);
        var (data, pool, traffic, parts) = simulated;
        var work = SimulatedData.WorkDirectory(options, "drift");
        var window = TimeSpan.FromSeconds(windowSeconds);
        var aggregatorOptions = simulated.AggregatorOptions(options, work) with
        {
            // The scenario's windows run ahead of the aggregator's clock: it keeps (and files profiles) that many either side.
            Monitoring = new MonitoringOptions { Window = window, CohortTag = "region", RetainedWindows = Math.Max(10, windows + 2), ReferenceDevicesPerRound = options.Devices, Drift = new DriftOptions { DistanceThreshold = distanceThreshold } },
        };

        // The two shifted features: the two with the largest spread in training (never constant pixels).
        var spread = Enumerable.Range(0, data.InputDim).Select(f => (Feature: f, Std: StdDev(pool, f))).OrderByDescending(x => x.Std).ToArray();
        var shifted = spread.Take(2).Select(x => x.Feature).Order().ToArray();
        var shiftBy = spread.Take(2).ToDictionary(x => x.Feature, x => (float)(shift * x.Std));
        var clock = new DeviceClock();
        try
        {
            await using var fleet = await SimulatedFleet.StartAsync(
                aggregatorOptions, new HeldOutEvaluator(traffic.Features, traffic.Labels), pool, parts, Agent.AgentFaults.None, options.ComputeSlots,
                id => new Dictionary<string, string> { ["region"] = RegionOf(int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture)) },
                null, work, _loggers, cancellationToken, configure: o => o with { ProfileWindow = TimeSpan.FromHours(1) }, deviceClock: clock, channels: options.CreateChannels(), inMemoryStores: options.InMemoryDeviceStores).ConfigureAwait(false);
            var node = fleet.Aggregator;
            for (var r = 0; r < options.Rounds; r++) await node.RunRoundAsync(cancellationToken).ConfigureAwait(false);
            var version = node.CurrentVersion.Version;
            await fleet.WaitForVersionAsync(version, TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false);
            setup.Stop();
            progress?.WriteLine($"setup: {options.Devices} agents, {options.Rounds} rounds -> v{version} (reference of {node.Monitor.Reference(version)?.Features[0].Count} training samples) in {setup.Elapsed.TotalSeconds:F1} s; shifting features {string.Join(", ", shifted)} by {shift}σ from window {shiftFrom}");

            var random = new Random(options.Seed);
            var results = new List<DriftWindow>();
            var first = DateTimeOffset.FromUnixTimeMilliseconds((node.Monitor.WindowOf(DateTimeOffset.UtcNow) + 1) * (long)window.TotalMilliseconds) + TimeSpan.FromMilliseconds(50);
            for (var w = 0; w < windows; w++)
            {
                // Each window's traffic is served with the devices' clocks held just after the window's start, so every
                // profile is stamped in that window however slow the host — and no window waits for the wall clock to
                // reach it: the aggregator files profiles by the time they carry and the scenario tests each window itself.
                var start = first + window * w;
                var index = node.Monitor.WindowOf(start);
                var accepted = node.ProfilesAccepted;
                clock.Hold(start);

                var isShifted = w >= shiftFrom;
                var trafficClock = Stopwatch.StartNew();
                long correct = 0, labelled = 0;
                foreach (var agent in fleet.Agents)
                {
                    var inShiftedRegion = RegionOf(int.Parse(agent.DeviceId[4..], System.Globalization.CultureInfo.InvariantCulture)) == "shifted";
                    for (var i = 0; i < predictionsPerWindow; i++)
                    {
                        var row = random.Next(traffic.Count);
                        var x = traffic.Row(row);
                        if (isShifted && inShiftedRegion)
                        {
                            foreach (var (f, by) in shiftBy) x[f] += by;
                        }

                        var prediction = agent.Predict(x);
                        agent.Feedback(prediction.PredictionId, traffic.Labels[row]);
                        labelled++;
                        if (prediction.Label == traffic.Labels[row]) correct++;
                    }

                    agent.FlushProfile();
                }

                var trafficSeconds = trafficClock.Elapsed.TotalSeconds;
                await SimulatedFleet.WaitUntilAsync(() => node.ProfilesAccepted >= accepted + fleet.Agents.Length, TimeSpan.FromSeconds(60), "window profiles", cancellationToken).ConfigureAwait(false);
                clock.Release();
                var reports = await node.EvaluateDriftAsync(index, cancellationToken).ConfigureAwait(false);
                var merged = node.Monitor.Window(version, FleetMonitor.AllCohorts, index);
                var complete = merged?.Predictions == (long)fleet.Agents.Length * predictionsPerWindow;
                int[] Drifted(string cohort) => reports.FirstOrDefault(r => r.Version == version && r.Cohort == cohort)?.DriftedFeatures.Select(f => f.Feature).Order().ToArray() ?? [];
                bool Moved(string cohort) => reports.FirstOrDefault(r => r.Version == version && r.Cohort == cohort)?.PredictionDrift ?? false;
                var result = new DriftWindow(w, isShifted, complete, Drifted("shifted"), Drifted("stable"), merged?.Accuracy ?? double.NaN, (double)correct / labelled, merged?.Outcomes ?? 0,
                    Moved("shifted"), Moved("stable"));
                results.Add(result);
                progress?.WriteLine($"window {w,3} {(isShifted ? "shifted" : "       ")}{(complete ? string.Empty : " (incomplete)")}: drifted in region shifted [{string.Join(", ", result.DriftedInShiftedCohort)}], stable [{string.Join(", ", result.DriftedInStableCohort)}]; predicted classes moved: shifted {(result.PredictionsMovedInShiftedCohort ? "yes" : "no")}, stable {(result.PredictionsMovedInStableCohort ? "yes" : "no")}; ground-truth accuracy {result.FleetAccuracy:F4} (exact {result.ExactAccuracy:F4}); traffic {trafficSeconds:F1} s");
            }

            return new DriftScenarioResult(options.Devices, data.InputDim, shifted, shiftFrom, results, setup.Elapsed.TotalSeconds);
        }
        finally
        {
            if (options.WorkDirectory is null) SimulationRunner.RemoveWork(work, options);
        }
    }

    private static double StdDev(Dataset data, int feature)
    {
        double sum = 0, squares = 0;
        for (var i = 0; i < data.Count; i++)
        {
            var v = data.Features[i * data.InputDim + feature];
            sum += v;
            squares += v * v;
        }

        var mean = sum / data.Count;
        return Math.Sqrt(Math.Max(squares / data.Count - mean * mean, 0));
    }
}
