using System.Diagnostics;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// The real aggregator and N real device agents in this process, each agent with its own MQTT
/// connection and SQLite stores, fed its data partition through the feedback path. Every
/// scenario (federated rounds, rollouts) runs on one of these; disposing stops everything.
/// </summary>
public sealed class SimulatedFleet : IAsyncDisposable
{
    private readonly SampleStore?[] _stores;
    private readonly Outbox?[] _outboxes;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;

    private SimulatedFleet(AggregatorNode aggregator, int devices, HttpClient http, SemaphoreSlim slots)
    {
        Aggregator = aggregator;
        Agents = new DeviceAgent[devices];
        _stores = new SampleStore?[devices];
        _outboxes = new Outbox?[devices];
        _http = http;
        _slots = slots;
    }

    public AggregatorNode Aggregator { get; }

    public DeviceAgent[] Agents { get; }

    /// <summary>Loaded ONNX sessions, shared by content hash across devices.</summary>
    public ModelRuntimes Runtimes { get; } = new();

    /// <summary>Resident memory the agents added, per device.</summary>
    public double MegabytesPerDevice { get; private set; }

    /// <summary>
    /// Starts the aggregator, then the agents (32 at a time), gives each its partition of
    /// <paramref name="pool"/> through the feedback path, and waits until every device with data
    /// is eligible. <paramref name="tags"/> gives each device's tags (hardware class, region…);
    /// <paramref name="deviceClock"/>, the clock every agent reads (the system clock by default);
    /// <paramref name="channels"/>, the transport (MQTT through the aggregator's broker by default, or an
    /// <see cref="InMemoryFleetHub"/>). Wire faults in <paramref name="faults"/> act through a
    /// <see cref="FaultyFleetChannel"/> around each device's channel.
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
        IFleetChannelFactory? channels = null)
    {
        var aggregator = new AggregatorNode(aggregatorOptions, loggers, evaluator: evaluator, channels: channels);
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { Timeout = TimeSpan.FromMinutes(2) };
        var fleet = new SimulatedFleet(aggregator, parts.Length, http, new SemaphoreSlim(computeSlots));
        try
        {
            await aggregator.StartAsync(cancellationToken).ConfigureAwait(false);
            var rssAggregator = CurrentRss();

            // Artifacts are immutable and content-addressed: one blob directory serves every simulated device.
            // Device stores skip fsync: a thousand devices share one disk here, and crash safety is tested on the agent itself.
            var sharedBlobs = Path.Combine(work, "blobs");
            var deviceChannels = faults is SimulatedFaults wire
                ? new FaultyChannelFactory(aggregator.Channels, wire, aggregatorOptions.Fleet, deviceClock ?? TimeProvider.System)
                : aggregator.Channels;
            await Parallel.ForEachAsync(Enumerable.Range(0, parts.Length), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                var id = $"dev-{i:D5}";
                var directory = Path.Combine(work, "devices", id);
                var store = new SampleStore(Path.Combine(directory, "agent.db"), maxSamples: 100_000, maxPendingPredictions: 1000);
                fleet._stores[i] = store;
                var outbox = new Outbox(Path.Combine(directory, "outbox.db"), capacity: 100, durable: false);
                fleet._outboxes[i] = outbox;
                var agentOptions = new AgentOptions
                    {
                        DeviceId = id,
                        Fleet = aggregatorOptions.Fleet,
                        Broker = aggregator.BrokerEndpoint,
                        TrustedRoots = [aggregator.Keys.RootPublicKey],
                        DataDirectory = directory,
                        StatusInterval = TimeSpan.FromHours(1),
                        KeepAlive = TimeSpan.FromSeconds(120),
                        Tags = tags(id),
                    };
                var agent = new DeviceAgent(
                    configure is null ? agentOptions : configure(agentOptions),
                    new AgentDependencies
                    {
                        Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(directory, "models"), sharedBlobs, durable: false), Http = http,
                        Runtimes = fleet.Runtimes, LoggerFactory = loggers, Faults = faults, ComputeSlots = fleet._slots, Channels = deviceChannels,
                        Time = deviceClock ?? TimeProvider.System,
                    });
                fleet.Agents[i] = agent;

                // Ground truth enters through the same feedback path a device app uses.
                agent.Feedback(parts[i].Select(s => (pool.Row(s), label is null ? pool.Labels[s] : label(id, pool.Labels[s]))).ToArray());
                await agent.StartAsync(ct).ConfigureAwait(false);
            }).ConfigureAwait(false);

            var withData = parts.Count(p => p.Length > 0);
            await WaitUntilAsync(() => aggregator.Devices.Eligible().Count >= withData, TimeSpan.FromMinutes(5), "devices online", cancellationToken).ConfigureAwait(false);
            fleet.MegabytesPerDevice = (CurrentRss() - rssAggregator) / 1048576.0 / parts.Length;
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until every device serves (or trains on) at least <paramref name="version"/>.</summary>
    public async Task WaitForVersionAsync(ulong version, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var installTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        installTimeout.CancelAfter(timeout);
        await Task.WhenAll(Agents.Select(a => a.WaitForModelAsync(version, installTimeout.Token))).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(Agents.Where(a => a is not null), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (a, _) => await a.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false);
        foreach (var s in _stores) s?.Dispose();
        foreach (var o in _outboxes) o?.Dispose();
        await Aggregator.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
        _slots.Dispose();
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
