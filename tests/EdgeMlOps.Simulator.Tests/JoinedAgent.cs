using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Monitoring;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>One real agent joined to the node over its broker (stores under <c>dir/dev</c>), holding the model's first version.</summary>
internal sealed class JoinedAgent : IAsyncDisposable
{
    private readonly SampleStore _store;
    private readonly HttpClient _http = new();

    private JoinedAgent(AggregatorNode node, string dir, string deviceId, TimeSpan? profileWindow, int maxSamples)
    {
        _store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), maxSamples, 100);
        Models = new ModelStore(Path.Combine(dir, "dev", "models"));
        var options = new AgentOptions { DeviceId = deviceId, Fleet = node.Options.Fleet, Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] };
        Agent = new DeviceAgent(
            profileWindow is { } window ? options with { ProfileWindow = window } : options,
            new AgentDependencies { Store = _store, Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 100), Models = Models, Http = _http });
    }

    public DeviceAgent Agent { get; }

    public ModelStore Models { get; }

    public static async Task<JoinedAgent> StartAsync(AggregatorNode node, string dir, string deviceId, TimeSpan? profileWindow = null, int maxSamples = 100)
    {
        var joined = new JoinedAgent(node, dir, deviceId, profileWindow, maxSamples);
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

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        _http.Dispose();
        _store.Dispose();
    }
}
