using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// A compromised device on a gateway's site (docs/SECURITY.md, "Mutation fuzzing"): enrolled with the fleet, connected
/// to the site's broker, it sends 300 mutations of its update in an open round (<see cref="ProtobufMutator"/>) and 300
/// of its status before its real update, most under a fresh header of its own. The gateway folds or refuses each (counted), relays the statuses for the
/// fleet's aggregator to judge, and nothing throws into either receive loop: the round completes with the site's other
/// device, the model moves within <c>Strategy:MaxUpdateNorm</c>, and no failure is logged by the gateway or the aggregator.
/// Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw.
/// </summary>
public sealed class SiteDeviceFuzzTests(ITestOutputHelper output)
{
    private const double MaxNorm = 1;

    [Fact]
    public async Task MutatedMessagesOfASiteDevice_AreFoldedOrRefusedAtTheGateway_AndTheSitesRoundCompletes()
    {
        using var failures = new FailureLog();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(failures).SetMinimumLevel(LogLevel.Trace));
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } };
        AggregatorOptions Options()
        {
            var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2);
            return options with { Edge = edge, Strategy = options.Strategy with { MaxUpdateNorm = MaxNorm } };
        }

        await using var node = new AggregatorNode(Options(), loggers);
        await node.StartAsync(CancellationToken.None);
        var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
        await using var host = new EdgeGatewayHost(Options() with { Edge = edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials } }, loggers);
        await host.StartAsync(CancellationToken.None);
        ScriptedDevice OnSite(string id) => new(id, "test", host.SiteEndpoint, new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate(id)));
        await using var honest = OnSite("dev-a1");
        await using var mallory = OnSite("dev-a2");
        await honest.ConnectAsync(samples: 10);
        await mallory.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both site devices eligible at the fleet's aggregator");

        var before = node.CurrentWeights.Values.ToArray();
        var round = node.RunRoundAsync(CancellationToken.None);
        var honestTask = await honest.NextTaskAsync(TimeSpan.FromSeconds(20));
        var malloryTask = await mallory.NextTaskAsync(TimeSpan.FromSeconds(20));
        var mutator = new ProtobufMutator(FuzzSeed.Value);
        var update = mallory.Update(malloryTask, 0.05f, samples: 10);
        var status = new DeviceStatus { Header = mallory.Header(), State = DeviceState.Online, SampleCount = 10 };
        for (var i = 0; i < 300; i++)
        {
            // Three in four under a fresh header of the device's own, so they pass the replay check and reach the fold.
            var fresh = i % 4 != 0;
            await mallory.PublishRawAsync("update", mutator.Mutate(update, u => u.Header = fresh ? mallory.Header() : u.Header));
            await mallory.PublishRawAsync("status", mutator.Mutate(status, s => s.Header = fresh ? mallory.Header() : s.Header));
        }

        await mallory.PublishAsync("update", mallory.Update(malloryTask, 0.05f, samples: 10));
        await honest.PublishAsync("update", honest.Update(honestTask, 0.02f, samples: 10));
        var report = await round;

        output.WriteLine($"gateway refused: {string.Join(", ", host.Gateway!.Rejections.Snapshot().OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"))}; partials sent {host.Gateway.PartialsSent}");
        Assert.Equal(2, report.Contributors);
        Assert.True(host.Gateway.Rejections.Total >= 100, $"{host.Gateway.Rejections.Total} refusals counted at the gateway");
        Assert.Empty(failures.Entries);
        var after = node.CurrentWeights.Values;
        var moved = Math.Sqrt(after.Select((w, i) => (double)(w - before[i]) * (w - before[i])).Sum());
        Assert.True(moved <= MaxNorm * 1.0001, $"the round moved the model by {moved}");
    }
}
