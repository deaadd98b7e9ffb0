using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// A gateway as the fleet's broker and aggregator see it, over the embedded TLS broker with a gateway certificate: it
/// reaches only its own site's devices' topics, and its partial counts for its own selected devices once — a forged or
/// replayed partial is refused whole, counted, and costs the round nothing.
/// </summary>
public class EdgeGatewayBrokerTests
{
    private static readonly Topics Topics = new("test");

    private static async Task<AggregatorNode> StartAsync()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } },
        };
        var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    private static MqttTransport Gateway(AggregatorNode node, string site, string? clientId = null)
    {
        var certificate = node.Security.Authority.IssueClientWithKey(new FleetIdentity(site, FleetRole.Gateway, "test"), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        var tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate);
        return new MqttTransport(new MqttTransportOptions(clientId ?? FleetIdentity.GatewayClientId(site), node.BrokerEndpoint) { CleanStart = true, Tls = tls, ConnectTimeout = TimeSpan.FromSeconds(5) });
    }

    private static EdgePartial Partial(AggregatorNode node, RoundTask task, ModelUpdate update, string deviceId, ulong sequence)
    {
        var accumulator = new RoundAccumulator(task.RoundId, task.ModelName, task.BaseVersion, ParameterLayout.For(AggregatorFixture.Spec), [deviceId],
            StandardStrategy.Create(node.Options.Strategy), null);
        Assert.True(accumulator.Offer(deviceId, update).Accepted);
        return new EdgePartial
        {
            Header = ProtocolInfo.NewHeader("test", "site-a", sequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()),
            ModelName = task.ModelName,
            BaseVersion = task.BaseVersion,
            Share = accumulator.Share("site-a"),
        };
    }

    [Fact]
    public async Task AGatewaysPartial_CountsForItsOwnSelectedDeviceOnce_WithThatDevicesWeight_AndForgedOrReplayedPartialsAreRefusedWhole()
    {
        await using var node = await StartAsync();
        await using var siteDevice = new ScriptedDevice("dev-a1", "test", node);
        await using var otherDevice = new ScriptedDevice("dev-b1", "test", node);
        await siteDevice.ConnectAsync(samples: 10);
        await otherDevice.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");
        await using var gateway = Gateway(node, "site-a");
        await gateway.ConnectAsync(CancellationToken.None);
        Task<bool> Send(EdgePartial partial) => gateway.PublishAsync(Topics.GatewayPartial("site-a"), partial.ToByteArray(), retain: false, CancellationToken.None);

        var before = node.CurrentWeights.Values[0];
        var round = node.RunRoundAsync(CancellationToken.None);
        var taskA = await siteDevice.NextTaskAsync(TimeSpan.FromSeconds(20));
        var taskB = await otherDevice.NextTaskAsync(TimeSpan.FromSeconds(20));

        // Forged: a device of another site; a sample count no device may claim; the same partial twice.
        await Send(Partial(node, taskB, otherDevice.Update(taskB, 0.5f, samples: 10), "dev-b1", 1));
        var huge = Partial(node, taskA, siteDevice.Update(taskA, 0.5f, samples: 10), "dev-a1", 2);
        huge.Share.Contributors[0].Samples = 2_000_000;
        await Send(huge);
        var honest = Partial(node, taskA, siteDevice.Update(taskA, 0.01f, samples: 10), "dev-a1", 3);
        await Send(honest);
        await Send(honest);

        // The device's own update after its gateway's partial counted it: a duplicate. The other device completes the round.
        await Eventually.Until(() => node.Rejections.Total >= 3, "the forged and replayed partials refused");
        await siteDevice.PublishAsync("update", siteDevice.Update(taskA, 0.9f, samples: 10));
        await otherDevice.PublishAsync("update", otherDevice.Update(taskB, 0.03f, samples: 10));
        var report = await round;

        Assert.Equal(2, report.Contributors);
        Assert.Equal(1, report.RejectedByReason.GetValueOrDefault(nameof(RejectionReason.NotAuthorized)));
        Assert.Equal(1, report.RejectedByReason.GetValueOrDefault(nameof(RejectionReason.BadSampleCount)));
        Assert.Equal(2, report.RejectedByReason.GetValueOrDefault(nameof(RejectionReason.Duplicate))); // the replayed partial, the device's own update
        Assert.Equal(before + 0.02f, node.CurrentWeights.Values[0], 1e-5f); // (0.01 × 10 + 0.03 × 10) / 20: the partial weighed as the device

        // What the operator sees of the gateway at the centre (GET /v1/fleet/gateways): one partial of one update merged, three refused.
        var site = Assert.Single(node.Gateways.Snapshot());
        Assert.Equal(("site-a", 1, 1L, 1L), (site.Gateway, site.DevicePatterns, site.PartialsMerged, site.UpdatesMerged));
        Assert.Equal(new Dictionary<string, long> { ["NotAuthorized"] = 1, ["BadSampleCount"] = 1, ["Duplicate"] = 1 }, site.Refused.OrderBy(r => r.Key).ToDictionary());
        Assert.NotNull(site.LastPartialAt);
    }

    [Fact]
    public async Task AGatewayCertificate_ReachesOnlyItsOwnSitesDevices_AndNeverTheirUpdates()
    {
        await using var node = await StartAsync();

        // Its own devices' tasks and statuses, the retained topics and the revocation list: allowed.
        await using (var gateway = Gateway(node, "site-a"))
        {
            var revocations = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            gateway.MessageReceived = (topic, payload) =>
            {
                if (topic == Topics.Revocations) revocations.TrySetResult(System.Buffers.BuffersExtensions.ToArray(payload));
                return Task.CompletedTask;
            };
            await gateway.SubscribeAsync([Topics.Task("dev-a1"), Topics.Model, Topics.Trust, Topics.Revocations], CancellationToken.None);
            await gateway.ConnectAsync(CancellationToken.None);
            await gateway.PublishAsync(Topics.Status("dev-a1"), [], retain: false, CancellationToken.None);
            Assert.True(gateway.IsConnected);

            // The fleet's revocation list, retained and signed with the fleet's rollout key.
            var list = Signed.Parser.ParseFrom(await revocations.Task.WaitAsync(TimeSpan.FromSeconds(10)));
            var verifier = new Shared.Trust.TrustVerifier("test", [node.Keys.RootPublicKey]);
            Assert.True(verifier.AcceptBundle(node.Keys.BundleEnvelope).Ok);
            Assert.Empty(verifier.VerifyRevocations(list, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()).Value!.DeviceIds);
        }

        // A device has no business with the revocation list: denied like any other topic not its own.
        Assert.Equal(0, node.Security.Events.Count(SecurityEventKind.SubscribeDenied) + node.Security.Events.Count(SecurityEventKind.PublishDenied));
        await using (var device = new MqttTransport(new MqttTransportOptions("dev-a1", node.BrokerEndpoint) { CleanStart = true, Tls = ScriptedDevice.CertificateFor(node, "dev-a1") }))
        {
            await device.ConnectAsync(CancellationToken.None);
            await BrokerRefusal.IgnoreClosedAsync(() => device.SubscribeAsync([Topics.Revocations], CancellationToken.None));
            await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.SubscribeDenied) == 1, "the device's subscription denied");
        }

        // Another site's device's task; a device's update in its name; another gateway's partial: each refused (counted) —
        // the gateway keeps its link, so a list that differs from the fleet's costs those messages only, not the site.
        await using (var gateway = Gateway(node, "site-a"))
        {
            await gateway.ConnectAsync(CancellationToken.None);
            foreach (var filter in new[] { Topics.Task("dev-b1"), Topics.AllDevices("task") })
            {
                await Assert.ThrowsAsync<BrokerRefusedException>(() => gateway.SubscribeAsync([filter], CancellationToken.None));
            }

            foreach (var topic in new[] { Topics.Update("dev-a1"), Topics.GatewayPartial("site-b"), Topics.Status("dev-b1") })
            {
                await Assert.ThrowsAsync<BrokerRefusedException>(() => gateway.PublishAsync(topic, [1], retain: false, CancellationToken.None));
            }

            Assert.True(gateway.IsConnected);
        }

        await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.SubscribeDenied) == 3 && node.Security.Events.Count(SecurityEventKind.PublishDenied) == 3, "every attempt counted");

        // Its certificate under another gateway's client id: refused at connection.
        await using var impostor = Gateway(node, "site-a", FleetIdentity.GatewayClientId("site-b"));
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => impostor.ConnectAsync(CancellationToken.None));
        Assert.Contains("NotAuthorized", refused.Message, StringComparison.Ordinal);
    }
}
