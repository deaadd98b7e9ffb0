using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>One real agent joined to the node over its broker (stores under <c>dir/dev</c>), holding the model's first version.</summary>
internal sealed class JoinedAgent : IAsyncDisposable
{
    private readonly SampleStore _store;
    private readonly HttpClient _http = new();

    private JoinedAgent(AggregatorNode node, string dir, string deviceId, TimeSpan? profileWindow, int maxSamples, Func<IFleetChannel, IFleetChannel>? wrap, Microsoft.Extensions.Logging.ILoggerFactory? loggers)
    {
        _store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), maxSamples, 100);
        Models = new ModelStore(Path.Combine(dir, "dev", "models"));
        var options = new AgentOptions { DeviceId = deviceId, Fleet = node.Options.Fleet, Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] };
        Agent = new DeviceAgent(
            profileWindow is { } window ? options with { ProfileWindow = window } : options,
            new AgentDependencies
            {
                Store = _store, Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 100), Models = Models, Http = _http,
                Channels = wrap is null ? null : new WrappedChannels(Join.DeviceChannels(node, deviceId), wrap),
                LoggerFactory = loggers ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
            });
    }

    public DeviceAgent Agent { get; }

    public ModelStore Models { get; }

    /// <param name="wrap">Wraps the agent's connection to the broker (a test's hostile relay); null for the agent's own.</param>
    /// <param name="loggers">Where the agent logs; null for nowhere.</param>
    public static async Task<JoinedAgent> StartAsync(AggregatorNode node, string dir, string deviceId, TimeSpan? profileWindow = null, int maxSamples = 100, Func<IFleetChannel, IFleetChannel>? wrap = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null)
    {
        var joined = new JoinedAgent(node, dir, deviceId, profileWindow, maxSamples, wrap, loggers);
        await joined.Agent.StartAsync(CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await joined.Agent.WaitForModelAsync(1, cts.Token);
        return joined;
    }

    /// <summary>Sends the agent's monitoring window and returns its index once the node holds it with <paramref name="predictions"/> rows; the next window has started.</summary>
    public async Task<long> FlushWindowAsync(AggregatorNode node, long predictions)
    {
        var accepted = node.ProfilesAccepted;
        Agent.FlushProfile();
        await Eventually.Until(() => node.ProfilesAccepted > accepted, "the window's profile", 20);
        var window = Enumerable.Range(-3, 4).Select(d => node.Monitor.WindowOf(DateTimeOffset.UtcNow) + d).Last(w => node.Monitor.Window(1, FleetMonitor.AllCohorts, w)?.Predictions == predictions);
        await Task.Delay(1100); // the next window starts
        return window;
    }

    private sealed class WrappedChannels(IFleetChannelFactory inner, Func<IFleetChannel, IFleetChannel> wrap) : IFleetChannelFactory
    {
        public string Address => inner.Address;

        public IFleetChannel Create(FleetChannelOptions options, Microsoft.Extensions.Logging.ILoggerFactory loggers) => wrap(inner.Create(options, loggers));
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        _http.Dispose();
        _store.Dispose();
    }
}
