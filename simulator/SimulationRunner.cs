using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Simulator.Data;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator;

/// <summary>
/// Runs a fleet on one machine: the real aggregator (embedded broker, registry, artifact
/// server) and N real device agents, each with its own MQTT connection and SQLite store, fed
/// its data partition through the agent's feedback path. Only the clock of the CPU is shared:
/// training is limited to <see cref="SimulationOptions.ComputeSlots"/> devices at once, and
/// loaded ONNX sessions are shared by content hash.
/// </summary>
public sealed class SimulationRunner(SimulationOptions options, ILoggerFactory? loggerFactory = null, TextWriter? progress = null)
{
    private readonly ILoggerFactory _loggers = loggerFactory ?? NullLoggerFactory.Instance;

    /// <summary>The federated run's aggregator settings (a replica in a child process builds the same).</summary>
    internal static AggregatorOptions AggregatorOptions(SimulationOptions options, SimulatedData simulated, string work) =>
        // Update byte counts here measure the encoded deltas: no training-sample sketches are asked for.
        simulated.AggregatorOptions(options, work) with
        {
            Strategy = StrategyOptions(options),
            Monitoring = new Aggregator.Monitoring.MonitoringOptions { ReferenceDevicesPerRound = 0 },
        };

    public async Task<SimulationResult> RunAsync(CancellationToken cancellationToken)
    {
        var setup = Stopwatch.StartNew();
        var simulated = SimulatedData.Load(options);
        var (data, pool, test, parts) = simulated;
        var work = SimulatedData.WorkDirectory(options, "sim");
        var aggregatorOptions = AggregatorOptions(options, simulated, work);
        var lines = options.Lines.Select(l => SimulatedLineData.Load(l, options)).ToArray();
        aggregatorOptions = aggregatorOptions with { Lines = [.. lines.Select(l => l.Options(aggregatorOptions))] };

        var faults = Faults(options);
        var channels = options.CreateChannels();
        try
        {
            var evaluator = SampleCuts.HeldOut(aggregatorOptions.Model, options.Seed, test); // samples of several lengths: cut as the devices' are
            await using var fleet = options.Workers > 0
                ? await SimulatedFleet.StartWithWorkersAsync(aggregatorOptions, evaluator, options, parts, _loggers, cancellationToken).ConfigureAwait(false)
                : await SimulatedFleet.StartAsync(
                    aggregatorOptions, evaluator, pool, parts, faults, options.ComputeSlots, Tags(options), Labels(faults, data.Classes),
                    work, _loggers, cancellationToken, channels: channels, inMemoryStores: options.InMemoryDeviceStores,
                    replicaProcesses: options.ReplicaProcesses ? options.Arguments : null, edgeSites: options.EdgeSites, edgeRegions: options.EdgeRegions, lines: lines, edgeRelaysLines: options.EdgeRelaysLines,
                    sample: SampleCuts.For(aggregatorOptions.Model, options.Seed)).ConfigureAwait(false);
            var aggregator = fleet.Aggregator;
            var agents = fleet.Agents;
            var initial = aggregator.CurrentVersion;
            await fleet.WaitForVersionAsync(initial.Version, TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
            setup.Stop();
            progress?.WriteLine($"strategy: {aggregator.Strategy.Describe()}; mode {options.Mode.ToString().ToLowerInvariant()}" + (options.Replicas > 1 ? $"; {options.Replicas} aggregator replicas" : string.Empty));
            progress?.WriteLine($"setup: {options.Devices} agents online on {aggregator.Channels.Address} in {setup.Elapsed.TotalSeconds:F1} s; {data.Name} {pool.Count} training / {test.Count} held-out samples, partition {options.Partition}; {fleet.MegabytesPerDevice:F2} MB per device; initial {options.AccuracyName} {initial.EvalAccuracy:F4}{TasksText(initial.TaskScores)}");

            var lineRounds = new SimulatedLineRounds(fleet, progress, options.Quiet);
            foreach (var line in fleet.Lines)
            {
                progress?.WriteLine($"line {line.Options.Line}: {line.Options.Model} on every device, its own rounds beside the first model's; initial acc {line.CurrentVersion.EvalAccuracy:F4}");
            }

            var recorder = new SimulationRecorder(options, aggregatorOptions, simulated, aggregator);
            if (options.ReplicaCrashAfter is { } crashAfter && fleet.Replicas.Count > 0)
            {
                var victim = fleet.Replicas[0];
                _ = Task.Delay(crashAfter, cancellationToken).ContinueWith(
                    _ =>
                    {
                        victim.Crash();
                        progress?.WriteLine($"fault: replica {victim.Name} crashed {crashAfter.TotalSeconds:F1} s into the rounds ({(victim is Workers.ReplicaProcess ? "its process killed with SIGKILL" : "its connection dropped")}) after taking {victim.Accepted} updates");
                    },
                    CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            }

            if (options.EdgeOutage is { } outage && fleet.Edge is { } cut) _ = CutLinkAsync(cut, outage.After, outage.Length, cancellationToken);
            var results = new List<RoundResult>();
            var roundsClock = Stopwatch.StartNew();
            if (options.Mode == EdgeMlOps.Aggregator.RoundMode.Buffered)
            {
                var upBefore = agents.Sum(a => a.BytesSent);
                var downBefore = agents.Sum(a => a.BytesReceived);
                var elapsed = 0.0;
                foreach (var report in await aggregator.RunBufferedAsync(options.Rounds, cancellationToken).ConfigureAwait(false))
                {
                    elapsed += report.Duration.TotalSeconds;
                    var version = aggregator.Registry.Version(aggregatorOptions.ModelName, report.NewVersion ?? report.BaseVersion);
                    Record(results, report, version?.EvalAccuracy ?? double.NaN, version?.EvalLoss ?? double.NaN, 0, 0, elapsed);
                    recorder.Round(report, version?.EvalAccuracy, version?.EvalLoss);
                }

                var last = results.LastOrDefault();
                if (last is not null) results[^1] = last with { BytesUp = agents.Sum(a => a.BytesSent) - upBefore, BytesDown = agents.Sum(a => a.BytesReceived) - downBefore };
            }
            else
            {
                for (var r = 0; r < options.Rounds; r++)
                {
                    var upBefore = agents.Sum(a => a.BytesSent);
                    var downBefore = agents.Sum(a => a.BytesReceived);
                    var edgeBefore = fleet.Edge?.UpstreamBytes ?? 0;
                    var linesRunning = lineRounds.Start(cancellationToken);
                    var report = await aggregator.RunRoundAsync(cancellationToken).ConfigureAwait(false);
                    await Task.WhenAll(linesRunning).ConfigureAwait(false);
                    if (report.Status == RoundStatus.Stopped)
                    {
                        progress?.WriteLine($"stopped: {report.StopReason}");
                        break;
                    }

                    if (report.NewVersion is { } v)
                    {
                        // Devices install the new version before the next round is counted.
                        await Task.WhenAll(agents.Select(a => a.WaitForModelAsync(v, cancellationToken))).ConfigureAwait(false);
                    }

                    var latest = aggregator.CurrentVersion;
                    Record(results, report, latest.EvalAccuracy ?? double.NaN, latest.EvalLoss ?? double.NaN,
                        agents.Sum(a => a.BytesSent) - upBefore, agents.Sum(a => a.BytesReceived) - downBefore, roundsClock.Elapsed.TotalSeconds);
                    if (fleet.Edge is { } edge)
                    {
                        results[^1] = results[^1] with { EdgeBytesUp = edge.UpstreamBytes - edgeBefore };
                        if (!options.Quiet) progress?.WriteLine($"  edge: {edge.Gateways.Count} gateways sent {results[^1].EdgeBytesUp / 1e6:F3} MB upstream for the {results[^1].BytesUp / 1e6:F3} MB their devices sent ({edge.Partials} partials so far)");
                    }

                    recorder.Round(report, latest.EvalAccuracy, latest.EvalLoss);
                    await lineRounds.FinishAsync(linesRunning, cancellationToken).ConfigureAwait(false);
                }
            }

            roundsClock.Stop();
            var final = aggregator.CurrentVersion;
            return new SimulationResult(
                options, results, final.EvalAccuracy ?? double.NaN, final.EvalLoss ?? double.NaN,
                setup.Elapsed.TotalSeconds, roundsClock.Elapsed.TotalSeconds, fleet.MegabytesPerDevice,
                aggregator.Devices.OnlineCount, BrokerDrops(aggregator, channels), fleet.Runtimes.Inference.Count)
            {
                Run = recorder.Finish(final.EvalAccuracy, final.EvalLoss),
                Initial = (initial.EvalAccuracy ?? double.NaN, initial.InferenceSha256),
                InitialTaskScores = initial.TaskScores,
                ReplicaUpdates = fleet.Replicas.ToDictionary(r => r.Name, r => r.Accepted),
                ReplicasStarved = aggregator.Replicas.Starved,
                EdgePartials = fleet.Edge is { } tier ? (tier.Partials, tier.Gateways.Sum(g => g.PartialBytes)) : (0, 0),
                Lines = [.. lineRounds.Results().Select(l => l with
                {
                    ReplicaUpdates = fleet.Replicas.Where(r => r.AcceptedByLine.ContainsKey(l.Name)).ToDictionary(r => r.Name, r => r.AcceptedByLine[l.Name]),
                    ReplicasStarved = fleet.Lines.Single(n => n.Options.Line == l.Name).Replicas.Starved,
                })],
            };
        }
        finally
        {
            if (options.WorkDirectory is null) RemoveWork(work, options);
        }
    }

    /// <summary>Fault: gateway site-0's link to the fleet's broker cut <paramref name="after"/> into the rounds, for <paramref name="length"/>.</summary>
    private async Task CutLinkAsync(SimulatedEdge edge, TimeSpan after, TimeSpan length, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(after, cancellationToken).ConfigureAwait(false);
            edge.Links[0].Severed = true;
            progress?.WriteLine($"fault: gateway {edge.Gateways[0].Id} cut off from the fleet's broker {after.TotalSeconds:F1} s into the rounds, for {length.TotalSeconds:F1} s");
            await Task.Delay(length, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            edge.Links[0].Severed = false;
        }

        progress?.WriteLine($"fault: gateway {edge.Gateways[0].Id} joined again, {edge.Gateways[0].Pending} messages still to send");
    }

    private void Record(List<RoundResult> results, RoundReport report, double accuracy, double loss, long bytesUp, long bytesDown, double elapsed)
    {
        var version = report.NewVersion ?? report.BaseVersion;
        var result = new RoundResult(
            report.Round, report.Status.ToString(), version, accuracy, loss, report.TrainLoss,
            report.Contributors, report.Selected, report.Rejected, report.RejectedByReason,
            bytesUp, bytesDown, report.Duration.TotalSeconds)
        {
            ElapsedSeconds = elapsed,
            Notes = report.Notes,
            PeakUpdatesPerSecond = report.PeakUpdatesPerSecond,
            ArrivalSpreadSeconds = report.ArrivalSpreadSeconds,
            TaskScores = report.EvalTasks,
            Samples = report.Samples,
        };
        results.Add(result);
        if (!options.Quiet)
        {
            var notes = string.Concat(report.Notes.Select(n => FormattableString.Invariant($"  {n.Key} {n.Value:G4}")));
            progress?.WriteLine(
                $"round {report.Round,3}/{options.Rounds}  {report.Status,-9} v{version,-4} {(options.Regression ? "R²" : options.MultiLabel ? "label acc" : options.PerPosition ? "position acc" : "acc")} {result.Accuracy:F4}  {options.LossName} {result.Loss:F4}  " +
                (report.EvalTasks is { } tasks ? TasksText(tasks).TrimStart(';', ' ') + "  " : string.Empty) +
                $"participants {report.Contributors}/{report.Selected}  rejected {report.Rejected}  up {result.BytesUp / 1e6:F2} MB  down {result.BytesDown / 1e6:F2} MB  {result.Seconds:F2} s  peak {report.PeakUpdatesPerSecond} updates/s over {report.ArrivalSpreadSeconds:F1} s{notes}");
        }
    }

    /// <summary>A multi-task model's score of each task, for a progress line (<c>; digit acc 0.7960, bottom R² 0.3134</c>); empty for another model.</summary>
    private string TasksText(IReadOnlyList<EdgeMlOps.Runtime.TaskScore>? tasks) =>
        tasks is null || tasks.Count != options.Tasks.Count ? string.Empty
        : "; " + string.Join(", ", tasks.Select((t, i) => FormattableString.Invariant($"{t.Output} {EdgeMlOps.Shared.Models.ModelTask.ScoreNameOf(options.Tasks[i].Kind)} {t.Score:F4}")));

    /// <summary>Messages the broker dropped: the embedded broker's count, or the in-memory hub's (0 for an external broker, which keeps its own).</summary>
    private static long BrokerDrops(AggregatorNode aggregator, EdgeMlOps.Runtime.Channels.IFleetChannelFactory? channels) =>
        aggregator.Broker?.DroppedMessages ?? (channels as EdgeMlOps.Runtime.Channels.InMemoryFleetHub)?.Dropped ?? 0;

    /// <summary>The seeded faults of this run (the same in every process that hosts its devices).</summary>
    internal static SimulatedFaults Faults(SimulationOptions options) =>
        new(options.Seed, options.Dropout, options.StragglerProbability, options.StragglerDelay,
            options.SlowFraction, options.SlowDelay, options.ByzantineFraction, options.Attack, options.AttackScale);

    internal static Func<string, IReadOnlyDictionary<string, string>> Tags(SimulationOptions options)
    {
        var tags = new Dictionary<string, string> { ["partition"] = options.Partition.ToString() };
        return _ => tags;
    }

    /// <summary>A label-flipping Byzantine device trains on poisoned ground truth (y → C − 1 − y).</summary>
    internal static Func<string, long, long> Labels(SimulatedFaults faults, int classes) =>
        (id, y) => faults.FlipsLabels(id) ? classes - 1 - y : y;

    /// <summary>The aggregator's strategy settings from --strategy and --strategy-set, read by the aggregator's own reader.</summary>
    private static StrategyOptions StrategyOptions(SimulationOptions options)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Aggregator:Strategy:Name"] = options.Strategy,

            // Simulated runs are reproducible: the DP noise is seeded and means are summed independently of arrival order
            // unless told otherwise.
            ["Aggregator:Strategy:Dp:NoiseSeed"] = options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Aggregator:Strategy:ExactSum"] = "true",
        };
        foreach (var (key, value) in options.StrategySettings) settings["Aggregator:Strategy:" + key] = value;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return Aggregator.AggregatorOptions.StrategyFromConfiguration(configuration);
    }

    /// <summary>Removes a temporary work directory and, with <c>--store-postgres</c>, the run's schema.</summary>
    internal static void RemoveWork(string work, SimulationOptions options)
    {
        SimulatedStore.Remove(options, work);
        TryDelete(work);
    }

    /// <summary>
    /// Removes a run's work directory. A large fleet leaves a directory per device (five files each, 500,000 at 100,000
    /// devices), whose removal is bound by the file system's work per file: four at a time get through it 2.3× faster
    /// than one (20,000 such directories on this machine's ext4: 12.3 s one by one, 6.2 s four at a time —
    /// <c>bash bench/scripts/parallel-delete.sh</c>).
    /// </summary>
    internal static void TryDelete(string directory)
    {
        try
        {
            var devices = Path.Combine(directory, "devices");
            if (Directory.Exists(devices))
            {
                Parallel.ForEach(Directory.EnumerateDirectories(devices), new ParallelOptions { MaxDegreeOfParallelism = 4 }, device =>
                {
                    try
                    {
                        Directory.Delete(device, recursive: true);
                    }
                    catch (IOException)
                    {
                    }
                });
            }

            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
