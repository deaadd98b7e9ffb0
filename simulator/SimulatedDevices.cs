using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Security;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Storage;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>Where simulated devices connect and what they trust: the part of a fleet a device host needs from the aggregator.</summary>
public sealed record DeviceHostSettings(
    string Fleet,
    IFleetChannelFactory Channels,
    byte[] TrustedRoot,
    string Work,
    int ComputeSlots,
    bool InMemoryStores)
{
    public Func<string, IReadOnlyDictionary<string, string>> Tags { get; init; } = _ => new Dictionary<string, string>();

    /// <summary>Rewrites a training sample by its index in the pool (cuts it to a length of its own, <see cref="SampleCuts"/>); null: kept as it is.</summary>
    public Func<int, float[], float[]>? Sample { get; init; }

    /// <summary>Rewrites a device's ground truth (label flipping); identity by default.</summary>
    public Func<string, long, long>? Label { get; init; }

    public Func<AgentOptions, AgentOptions>? Configure { get; init; }

    public TimeProvider? Clock { get; init; }

    /// <summary>When set, every device enrolls for its own certificate and connects over TLS to its broker instead of using <see cref="Channels"/>.</summary>
    public SimulatedEnrollment? Enrollment { get; init; }

    /// <summary>The CA devices pin for an https aggregator API (also over the in-memory transport, where nobody enrolls); null for plain http.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? HttpsCa { get; init; }

    /// <summary>The broker a device connects to when it is not the fleet's (an edge site's, <see cref="SimulatedEdge"/>); null: <see cref="Channels"/>.</summary>
    public Func<string, IFleetChannelFactory>? SiteChannels { get; init; }

    /// <summary>With <see cref="Enrollment"/>: the TLS broker of the site a device connects to (a real gateway host's); null: the enrollment's broker.</summary>
    public Func<string, MqttEndpoint>? SiteBrokers { get; init; }

    /// <summary>The fleet's model lines: every device runs them (<see cref="Agent.Lines.ModelLines"/>) and is fed its part of each one's data.</summary>
    public IReadOnlyList<SimulatedLineData> Lines { get; init; } = [];
}

/// <summary>
/// Real device agents for one slice of a fleet, in this process: each with its own channel and stores,
/// fed its data partition through the feedback path, sharing loaded ONNX sessions, the artifact blob
/// directory and a limit on concurrent training. The in-process fleet and each worker process host one.
/// </summary>
public sealed class SimulatedDevices : IAsyncDisposable
{
    private readonly SampleStore?[] _stores;
    private readonly Outbox?[] _outboxes;
    private readonly Agent.Lines.ModelLines?[] _lines;
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DeviceIdentity> _identities = new(StringComparer.Ordinal);

    private SimulatedDevices(int count, int computeSlots, System.Security.Cryptography.X509Certificates.X509Certificate2? httpsCa)
    {
        // Over https the devices trust only the fleet CA, as real ones do.
        var handler = httpsCa is null ? new SocketsHttpHandler() : Shared.Security.PinnedHttp.Handler(httpsCa);
        handler.MaxConnectionsPerServer = 64;
        _http = new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(2) };
        Agents = new DeviceAgent[count];
        _stores = new SampleStore?[count];
        _outboxes = new Outbox?[count];
        _lines = new Agent.Lines.ModelLines?[count];
        _slots = new SemaphoreSlim(computeSlots);
    }

    public DeviceAgent[] Agents { get; }

    /// <summary>Loaded ONNX sessions, shared by content hash across devices.</summary>
    public ModelRuntimes Runtimes { get; } = new();

    /// <summary>The id of the device at fleet index <paramref name="index"/>.</summary>
    public static string DeviceId(int index) => $"dev-{index:D5}";

    /// <summary>
    /// Starts the agents for fleet indices <paramref name="first"/> to <paramref name="first"/> + <paramref name="count"/> − 1
    /// (32 at a time), each fed its part of <paramref name="pool"/> before it connects.
    /// </summary>
    public static async Task<SimulatedDevices> StartAsync(
        DeviceHostSettings settings, Dataset pool, int[][] parts, int first, int count, AgentFaults faults, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var devices = new SimulatedDevices(count, settings.ComputeSlots, settings.HttpsCa ?? settings.Enrollment?.FleetCa);
        try
        {
            // Artifacts are immutable and content-addressed: one blob directory serves every simulated device.
            // Device stores skip fsync: a thousand devices share one disk here, and crash safety is tested on the agent itself.
            var sharedBlobs = Path.Combine(settings.Work, "blobs");
            var clock = settings.Clock ?? TimeProvider.System;
            var identities = devices._identities;
            var tls = settings.Enrollment is { } enrollment ? new MqttTlsSettings(enrollment.FleetCa, id => identities.TryGetValue(id, out var identity) ? identity.Current : null) : null;
            var baseChannels = tls is not null ? new MqttChannelFactory(settings.Enrollment!.Broker, tls) : settings.Channels;
            IFleetChannelFactory WithFaults(IFleetChannelFactory inner) => faults is SimulatedFaults wire ? new FaultyChannelFactory(inner, wire, settings.Fleet, clock) : inner;
            IFleetChannelFactory? SiteOf(string id) =>
                settings.SiteChannels?.Invoke(id) ?? (tls is not null && settings.SiteBrokers is { } site ? new MqttChannelFactory(site(id), tls) : null);
            var channels = WithFaults(baseChannels);
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                var index = first + i;
                var id = DeviceId(index);
                var directory = Path.Combine(settings.Work, "devices", id);
                var outbox = new Outbox(settings.InMemoryStores ? SqliteFile.InMemory : Path.Combine(directory, "outbox.db"), capacity: 100, durable: false);
                devices._outboxes[i] = outbox;
                if (settings.Enrollment is { } enroll)
                {
                    var identity = new DeviceIdentity(id, enroll.FleetCa, settings.InMemoryStores ? null : Path.Combine(directory, "identity"), enroll.Settings, devices._http, clock, loggers.CreateLogger<DeviceIdentity>());
                    identities[id] = identity;
                    // Retried (0.25 s doubling) so a start-up that meets a transient aggregator failure — a database failing
                    // over, in PostgresFleetTests — is delayed, not failed.
                    if (!await identity.EnsureWithRetryAsync(EnrollAttempts, TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false))
                        throw new InvalidOperationException($"{id} could not enroll at {enroll.Settings.Url} in {EnrollAttempts} attempts");
                }
                var options = new AgentOptions
                {
                    DeviceId = id,
                    Fleet = settings.Fleet,
                    TrustedRoots = [settings.TrustedRoot],
                    DataDirectory = directory,
                    StatusInterval = TimeSpan.FromHours(1),
                    KeepAlive = TimeSpan.FromSeconds(120),
                    PredictionFlushInterval = TimeSpan.FromSeconds(5),
                    Tags = settings.Tags(id),
                    MaxSamples = 100_000, // a device's whole partition, unless the scenario keeps fewer
                };
                options = settings.Configure is null ? options : settings.Configure(options);
                var store = new SampleStore(settings.InMemoryStores ? SqliteFile.InMemory : Path.Combine(directory, "agent.db"), maxSamples: options.MaxSamples, maxPendingPredictions: 1000);
                devices._stores[i] = store;
                var dependencies = new AgentDependencies
                {
                    Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(directory, "models"), sharedBlobs, durable: false), Http = devices._http,
                    Runtimes = devices.Runtimes, LoggerFactory = loggers, Faults = faults, ComputeSlots = devices._slots, Channels = SiteOf(id) is { } siteChannels ? WithFaults(siteChannels) : channels,
                    Time = clock,
                };
                var agent = new DeviceAgent(options, dependencies);
                devices.Agents[i] = agent;

                // Ground truth enters through the same feedback path a device app uses.
                var (label, sample) = (settings.Label, settings.Sample ?? ((_, row) => row));
                if (pool.Targets is not null) agent.FeedbackTargets(parts[index].Select(s => (sample(s, pool.Row(s)), pool.TargetRow(s))).ToArray()); // a regressor's true values or a multi-label classifier's labels
                else agent.Feedback(parts[index].Select(s => (sample(s, pool.Row(s)), label is null ? pool.Labels[s] : label(id, pool.Labels[s]))).ToArray());
                await agent.StartAsync(ct).ConfigureAwait(false);
                if (settings.Lines.Count > 0)
                {
                    var lines = devices._lines[i] = new Agent.Lines.ModelLines(agent, options, dependencies, settings.InMemoryStores);
                    await lines.StartAsync(ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
            if (settings.Lines.Count > 0) await devices.FeedLinesAsync(settings.Lines, first, cancellationToken).ConfigureAwait(false);
            return devices;
        }
        catch
        {
            await devices.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until every device serves (or trains on) at least <paramref name="version"/>.</summary>
    public async Task WaitForVersionAsync(ulong version, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var installTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        installTimeout.CancelAfter(timeout);
        await Task.WhenAll(Agents.Where(a => a is not null).Select(a => a.WaitForModelAsync(version, installTimeout.Token))).ConfigureAwait(false);
    }

    /// <summary>Waits until every device runs line <paramref name="line"/> at <paramref name="version"/> or later.</summary>
    public async Task WaitForLineVersionAsync(string line, ulong version, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var installTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        installTimeout.CancelAfter(timeout);
        await Task.WhenAll(_lines.OfType<Agent.Lines.ModelLines>().Select(async lines =>
        {
            while (lines[line] is null) await Task.Delay(50, installTimeout.Token).ConfigureAwait(false);
            await lines[line]!.WaitForModelAsync(version, installTimeout.Token).ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    /// <summary>
    /// Each device's part of every line's data, through the line's feedback path once the catalogue has started the line
    /// there and its first version is installed; then the line hears of the samples (its status).
    /// </summary>
    private async Task FeedLinesAsync(IReadOnlyList<SimulatedLineData> lines, int first, CancellationToken cancellationToken)
    {
        foreach (var data in lines) await WaitForLineVersionAsync(data.Name, 1, TimeSpan.FromMinutes(5), cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(Enumerable.Range(0, _lines.Length), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            foreach (var data in lines)
            {
                var agent = _lines[i]![data.Name]!;
                agent.Feedback(data.Parts[first + i].Select(s => (data.Pool.Row(s), data.Pool.Labels[s])).ToArray());
                await agent.PublishStatusAsync(ct).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await Parallel.ForEachAsync(_lines.OfType<Agent.Lines.ModelLines>(), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (l, _) => await l.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false); // each line before its device's connection
        await Parallel.ForEachAsync(Agents.Where(a => a is not null), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (a, _) => await a.DisposeAsync().ConfigureAwait(false)).ConfigureAwait(false);
        foreach (var s in _stores) s?.Dispose();
        foreach (var o in _outboxes) o?.Dispose();
        foreach (var identity in _identities.Values) identity.Dispose();
        _http.Dispose();
        _slots.Dispose();
    }

    /// <summary>Enrollment attempts before a simulated device gives up (a real agent keeps retrying: DeviceIdentity.RunAsync).</summary>
    private const int EnrollAttempts = 8;
}
