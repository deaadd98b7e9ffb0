using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator.Tests.Hostile;

/// <summary>
/// A real aggregator (embedded broker, TLS) with two real agents holding 40 labelled samples each of an 8-input,
/// 3-class MLP: "honest-1", and "mallory", enrolled like any device but behind a <see cref="MutatingRelay"/>. Errors the
/// aggregator and mallory's agent log are kept (<see cref="Failures"/>).
/// </summary>
internal sealed class HostileFleet : IAsyncDisposable
{
    public const int Features = 8;

    private readonly ILoggerFactory _loggers;

    private HostileFleet(AggregatorNode node, FailureLog failures, ILoggerFactory loggers)
    {
        Node = node;
        Failures = failures;
        _loggers = loggers;
    }

    public AggregatorNode Node { get; }

    public FailureLog Failures { get; }

    public JoinedAgent Honest { get; private set; } = null!;

    public JoinedAgent Mallory { get; private set; } = null!;

    public MutatingRelay Relay { get; private set; } = null!;

    public static async Task<HostileFleet> StartAsync(int seed)
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-hostile-" + Guid.NewGuid().ToString("N"));
        var failures = new FailureLog();
        var loggers = LoggerFactory.Create(b => b.AddProvider(failures).SetMinimumLevel(LogLevel.Trace));
        var options = new AggregatorOptions
        {
            Fleet = "fuzz", ModelName = "m", Model = ModelSpecText.Parse($"mlp-{Features}-6-3"), Seed = 7,
            EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity.Admin] },
            Rounds = new RoundOptions { ClientsPerRound = 2, OverSelection = 1, MinQuorum = 0.5, LocalEpochs = 1, BatchSize = 8, ReportDeadline = TimeSpan.FromSeconds(30) },
        };
        var fleet = new HostileFleet(new AggregatorNode(options, loggers), failures, loggers);
        await fleet.Node.StartAsync(CancellationToken.None);
        fleet.Honest = await JoinedAgent.StartAsync(fleet.Node, Path.Combine(dir, "honest"), "honest-1");
        fleet.Mallory = await JoinedAgent.StartAsync(fleet.Node, Path.Combine(dir, "mallory"), "mallory", wrap: c => fleet.Relay = new MutatingRelay(c, "mallory", new Topics("fuzz"), seed), loggers: loggers);
        var random = new Random(3);
        (float[], long)[] Samples(int n) => [.. Enumerable.Range(0, n).Select(_ =>
        {
            var x = Enumerable.Range(0, Features).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
            return (x, x[0] > 0.3f ? 2L : x[1] > 0 ? 1L : 0L);
        })];
        fleet.Honest.Agent.Feedback(Samples(40));
        fleet.Mallory.Agent.Feedback(Samples(40));
        foreach (var (x, _) in Samples(60)) fleet.Mallory.Agent.Predict(x);
        await Eventually.Until(() => fleet.Node.Devices.TryGet("honest-1", out var h) && h.SampleCount == 40 && fleet.Node.Devices.TryGet("mallory", out var m) && m.SampleCount == 40, "both devices' statuses");
        return fleet;
    }

    /// <summary>Both agents hold <paramref name="version"/>.</summary>
    public async Task BothHoldAsync(ulong version)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Honest.Agent.WaitForModelAsync(version, cts.Token);
        await Mallory.Agent.WaitForModelAsync(version, cts.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await Mallory.DisposeAsync();
        await Honest.DisposeAsync();
        await Node.DisposeAsync();
        _loggers.Dispose();
        Failures.Dispose();
    }
}
