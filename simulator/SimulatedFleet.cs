using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// The real aggregator and N real device agents in this process, each agent with its own channel
/// (MQTT over loopback, or the in-memory hub) and stores, fed its data partition through the feedback
/// path. Every in-process scenario (federated rounds, rollouts, drift) runs on one of these; disposing
/// stops everything.
/// </summary>
public sealed class SimulatedFleet : IAsyncDisposable
{
    private SimulatedDevices? _devices;
    private Workers.WorkerProcesses? _workers;
    private readonly List<ISimulatedReplica> _replicas = [];
    private SimulatedEdge? _edge;
    private EdgeMlOps.Aggregator.Lines.ModelLineHost? _lines;

    private SimulatedFleet(AggregatorNode aggregator) => Aggregator = aggregator;

    public AggregatorNode Aggregator { get; }

    /// <summary>The aggregator replicas beside the coordinator (<see cref="AggregatorOptions.Replicas"/>), started before any device.</summary>
    public IReadOnlyList<ISimulatedReplica> Replicas => _replicas;

    public DeviceAgent[] Agents => _devices?.Agents ?? [];

    /// <summary>The edge sites' gateways (<see cref="AggregatorOptions.Edge"/>), started before any device; null without an edge tier.</summary>
    public SimulatedEdge? Edge => _edge;

    /// <summary>The aggregators of the fleet's model lines (<see cref="AggregatorOptions.Lines"/>), in the configured order.</summary>
    public IReadOnlyList<AggregatorNode> Lines => _lines?.Nodes ?? [];

    /// <summary>Loaded ONNX sessions, shared by content hash across devices.</summary>
    public ModelRuntimes Runtimes => _devices?.Runtimes ?? new ModelRuntimes();

    /// <summary>Resident memory the agents added, per device.</summary>
    public double MegabytesPerDevice { get; private set; }

    /// <summary>
    /// Starts the aggregator, then the agents, gives each its partition of <paramref name="pool"/> through the
    /// feedback path, and waits until every device with data is eligible. <paramref name="tags"/> gives each
    /// device's tags (hardware class, region…); <paramref name="deviceClock"/>, the clock every agent reads (the
    /// system clock by default); <paramref name="channels"/>, the transport (MQTT through the aggregator's
    /// broker by default, or an <see cref="InMemoryFleetHub"/>); <paramref name="inMemoryStores"/>, in-memory
    /// SQLite sample stores and outboxes instead of files (no descriptors per device). Wire faults in
    /// <paramref name="faults"/> act through a <see cref="FaultyFleetChannel"/> around each device's channel.
    /// </summary>
    public static async Task<SimulatedFleet> StartAsync(
        AggregatorOptions aggregatorOptions,
        IModelEvaluator evaluator,
        Dataset pool,
        int[][] parts,
        AgentFaults faults,
        int computeSlots,
        Func<string, IReadOnlyDictionary<string, string>> tags,
        Func<string, long, long>? label,
        string work,
        ILoggerFactory loggers,
        CancellationToken cancellationToken,
        Func<AgentOptions, AgentOptions>? configure = null,
        TimeProvider? deviceClock = null,
        IFleetChannelFactory? channels = null,
        bool inMemoryStores = false,
        IReadOnlyList<string>? replicaProcesses = null,
        int edgeSites = 0, int edgeRegions = 0,
        IReadOnlyList<SimulatedLineData>? lines = null, bool edgeRelaysLines = false, Func<int, float[], float[]>? sample = null)
    {
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.InProcessFleet(parts.Length, channels is not null, aggregatorOptions.ExternalBroker is null, inMemoryStores));
        var aggregator = new AggregatorNode(aggregatorOptions, loggers, evaluator: evaluator, channels: channels);
        var fleet = new SimulatedFleet(aggregator);
        try
        {
            await aggregator.StartAsync(cancellationToken).ConfigureAwait(false);
            await fleet.StartReplicasAsync(aggregatorOptions, loggers, cancellationToken, replicaProcesses).ConfigureAwait(false);
            if (lines is { Count: > 0 })
            {
                var evaluators = lines.ToDictionary(l => l.Name, l => l.Evaluator());
                fleet._lines = await EdgeMlOps.Aggregator.Lines.ModelLineHost.StartAsync(aggregator, loggers, cancellationToken, evaluators: l => evaluators[l.Name]).ConfigureAwait(false);
            }

            if (edgeSites > 0)
            {
                fleet._edge = await SimulatedEdge.StartAsync(
                    edgeRelaysLines ? aggregatorOptions with { Lines = [] } : aggregatorOptions, id => SimulatedEdge.Upstream(aggregator, channels is not null, id), aggregator.Keys.RootPublicKey, edgeSites, work, loggers, cancellationToken, edgeRegions).ConfigureAwait(false);
            }

            var rssAggregator = CurrentRss();
            var settings = new DeviceHostSettings(aggregatorOptions.Fleet, aggregator.Channels, aggregator.Keys.RootPublicKey, work, computeSlots, inMemoryStores)
            {
                SiteChannels = fleet._edge is { } edge ? edge.ChannelsFor : null,
                Tags = tags,
                Label = label,
                Sample = sample,
                Configure = configure,
                Clock = deviceClock,
                Enrollment = channels is null && edgeSites == 0 ? SimulatedEnrollment.From(aggregator) : null, // behind a gateway, devices reach only their site's broker
                HttpsCa = aggregator.ArtifactBaseUrl.Scheme == Uri.UriSchemeHttps ? aggregator.Security.Authority.Certificate : null,
                Lines = lines ?? [],
            };
            fleet._devices = await SimulatedDevices.StartAsync(settings, pool, parts, 0, parts.Length, faults, loggers, cancellationToken).ConfigureAwait(false);

            var withData = parts.Count(p => p.Length > 0);
            await WaitUntilAsync(() => aggregator.Devices.Eligible().Count >= withData, TimeSpan.FromMinutes(5), "devices online", cancellationToken).ConfigureAwait(false);
            foreach (var line in fleet.Lines)
            {
                var data = lines!.Single(l => l.Name == line.Options.Line);
                var lineWithData = data.Parts.Count(p => p.Length > 0);
                await WaitUntilAsync(() => line.Devices.Eligible().Count >= lineWithData, TimeSpan.FromMinutes(5), $"devices of line {data.Name} online", cancellationToken).ConfigureAwait(false);
            }

            fleet.MegabytesPerDevice = (CurrentRss() - rssAggregator) / 1048576.0 / parts.Length;
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Starts the aggregator (its embedded broker, or <see cref="AggregatorOptions.ExternalBroker"/>) here and
    /// the agents in <see cref="SimulationOptions.Workers"/> worker processes, and waits until every device with
    /// data is eligible. <see cref="Agents"/> is empty: the agents live in the workers.
    /// </summary>
    public static async Task<SimulatedFleet> StartWithWorkersAsync(
        AggregatorOptions aggregatorOptions, IModelEvaluator evaluator, SimulationOptions options, int[][] parts, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (aggregatorOptions.ExternalBroker is null) DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.EmbeddedBroker(parts.Length));
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.Worker((parts.Length + options.Workers - 1) / options.Workers, options.InMemoryDeviceStores));
        var aggregator = new AggregatorNode(aggregatorOptions, loggers, evaluator: evaluator);
        var fleet = new SimulatedFleet(aggregator);
        try
        {
            await aggregator.StartAsync(cancellationToken).ConfigureAwait(false);
            await fleet.StartReplicasAsync(aggregatorOptions, loggers, cancellationToken, options.ReplicaProcesses ? options.Arguments : null).ConfigureAwait(false);
            string[] sites = [];
            if (options.EdgeSites > 0)
            {
                var edge = fleet._edge = await SimulatedEdge.StartHostsAsync(aggregator, aggregatorOptions, options.EdgeSites, Path.GetDirectoryName(aggregatorOptions.DataDirectory)!, loggers, cancellationToken, options.EdgeRegions).ConfigureAwait(false);
                sites = ["--site-brokers", string.Join(',', edge.SiteBrokers)];
            }

            fleet._workers = await Workers.WorkerProcesses.StartAsync(
                options.Arguments, parts.Length, options.Workers, aggregator.BrokerEndpoint, aggregator.Keys.RootPublicKey, [.. SimulatedEnrollment.Arguments(aggregator), .. sites], TimeSpan.FromMinutes(10), cancellationToken).ConfigureAwait(false);
            var withData = parts.Count(p => p.Length > 0);
            await WaitUntilAsync(() => aggregator.Devices.Eligible().Count >= withData, TimeSpan.FromMinutes(10), "devices online", cancellationToken).ConfigureAwait(false);
            fleet.MegabytesPerDevice = fleet._workers.ResidentBytes / 1048576.0 / parts.Length;
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until every device serves (or trains on) at least <paramref name="version"/>.</summary>
    public Task WaitForVersionAsync(ulong version, TimeSpan timeout, CancellationToken cancellationToken) =>
        _devices?.WaitForVersionAsync(version, timeout, cancellationToken) ?? Task.CompletedTask;

    /// <summary>Waits until every device runs line <paramref name="line"/> at <paramref name="version"/> or later.</summary>
    public Task WaitForLineVersionAsync(string line, ulong version, TimeSpan timeout, CancellationToken cancellationToken) =>
        _devices?.WaitForLineVersionAsync(line, version, timeout, cancellationToken) ?? Task.CompletedTask;

    /// <summary>
    /// Every replica named in the options besides the coordinator's own name: on the coordinator's channel factory, or
    /// over TLS with a replica certificate of its own (a TLS broker takes the certificate's name as the client id, so
    /// the aggregator's certificate would take the coordinator's session over) — or, given the run's
    /// <paramref name="processArguments"/>, each in a child process of its own (<see cref="Workers.ReplicaProcess"/>).
    /// </summary>
    private async Task StartReplicasAsync(AggregatorOptions options, ILoggerFactory loggers, CancellationToken cancellationToken, IReadOnlyList<string>? processArguments = null)
    {
        foreach (var name in options.Replicas.Members.Where(m => m != options.Replicas.Name))
        {
            if (processArguments is not null && options.ExternalBroker is { } broker)
            {
                var work = Path.GetDirectoryName(options.DataDirectory)!;
                _replicas.Add(await Workers.ReplicaProcess.StartAsync(processArguments, name, work, broker.ToString(), TimeSpan.FromMinutes(2), cancellationToken).ConfigureAwait(false));
                continue;
            }

            var replicaOptions = options with { Replicas = options.Replicas with { Name = name } };
            var replica = new EdgeMlOps.Aggregator.Replicas.ReplicaStandby(
                replicaOptions,
                identity => options.ExternalBroker is { Tls: true } ? EdgeMlOps.Aggregator.Replicas.ReplicaChannels.For(replicaOptions, identity, TimeProvider.System) : Aggregator.Channels,
                TimeProvider.System,
                loggers);
            _replicas.Add(new InProcessReplica(replica));
            await replica.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_devices is not null) await _devices.DisposeAsync().ConfigureAwait(false);
        if (_workers is not null) await _workers.DisposeAsync().ConfigureAwait(false); // the agents before their sites' gateways
        if (_edge is not null) await _edge.DisposeAsync().ConfigureAwait(false);
        foreach (var replica in _replicas) await replica.DisposeAsync().ConfigureAwait(false);
        if (_lines is not null) await _lines.DisposeAsync().ConfigureAwait(false);
        await Aggregator.DisposeAsync().ConfigureAwait(false);
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException($"Simulated fleet: timed out waiting for {what}.");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    public static long CurrentRss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
