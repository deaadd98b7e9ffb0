using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// The edge role as a gateway machine runs it: credentials the fleet's aggregator issued, the site's own TLS broker
/// (fleet device certificates, the fleet's ACL), and the gateway to the fleet's TLS broker — devices that only ever
/// reach their site's broker are tasked, train, and count in the fleet's round through one partial.
/// </summary>
public class EdgeGatewayHostTests
{
    [Fact]
    public async Task DevicesOnASiteBroker_AreTaskedThroughTheGateway_AndTheirUpdatesReachTheRoundAsOnePartial()
    {
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } },
        };
        await using var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);

        var gatewayOptions = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            Edge = central.Edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials },
        };
        await using var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);

        // Devices enrolled with the fleet (certificates from its CA), connected to the site's broker only.
        ScriptedDevice OnSite(string id) => new(id, "test", host.SiteEndpoint, new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate(id)));
        await using var first = OnSite("dev-a1");
        await using var second = OnSite("dev-a2");
        await first.ConnectAsync(samples: 10);
        await second.ConnectAsync(samples: 30);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both site devices eligible at the fleet's aggregator (their statuses relayed)");

        var before = node.CurrentWeights.Values[0];
        var round = node.RunRoundAsync(CancellationToken.None);
        var taskA = await first.NextTaskAsync(TimeSpan.FromSeconds(20));
        var taskB = await second.NextTaskAsync(TimeSpan.FromSeconds(20));
        await first.PublishAsync("update", first.Update(taskA, 0.04f, samples: 10));
        await second.PublishAsync("update", second.Update(taskB, 0.08f, samples: 30));
        var report = await round;

        Assert.Equal((2, 0L), (report.Contributors, report.Rejected));
        Assert.Equal(1, host.Gateway!.PartialsSent);
        Assert.Equal(before + 0.07f, node.CurrentWeights.Values[0], 1e-5f); // (0.04 × 10 + 0.08 × 30) / 40

        // The same update again at the site: the gateway refuses it (a new message id, a device already counted) and counts it.
        await first.PublishAsync("update", first.Update(taskA, 0.04f, samples: 10));
        await Eventually.Until(() => host.Gateway.Rejections.Total == 1, "the gateway to refuse the second update");
        Assert.Equal(1, host.Gateway.Rejections.Snapshot().GetValueOrDefault(nameof(Shared.RejectionReason.Duplicate)));

        // Revoked at the fleet: the signed revocation list reaches the gateway, which drops the device from its site's
        // broker. The next round trains on dev-a1 alone.
        await node.RevokeDeviceAsync("dev-a2", "stolen", "alice");
        await Eventually.Until(() => host.Events!.Count(SecurityEventKind.DeviceRevoked) == 1 && !second.IsConnected, "the site's broker to drop the revoked device");
        await second.DisposeAsync(); // no reconnection attempts from here on
        Assert.Equal(["dev-a1"], node.Devices.Eligible().Select(d => d.DeviceId));
        var next = node.RunRoundAsync(CancellationToken.None);
        var taskA2 = await first.NextTaskAsync(TimeSpan.FromSeconds(20));
        await first.PublishAsync("update", first.Update(taskA2, 0.01f, samples: 10));
        Assert.Equal(1, (await next).Contributors);

        // A device of another site, with a good fleet certificate, cannot connect to this site's broker.
        await using var stranger = OnSite("dev-b1");
        var refusedBefore = host.Events!.Count(SecurityEventKind.ConnectionRefused);
        await Assert.ThrowsAnyAsync<Exception>(() => stranger.ConnectAsync(samples: 10));
        Assert.Equal(refusedBefore + 1, host.Events!.Count(SecurityEventKind.ConnectionRefused));
        Assert.Contains("device 'dev-b1' is not one of gateway 'site-a''s devices", host.Events.Recent(1).Single().Detail, StringComparison.Ordinal);

        // The site's broker holds its devices to the fleet's rules: another device's topic is refused there.
        await BrokerRefusal.IgnoreClosedAsync(() => first.PublishRawAsync("../dev-a2/update", [1]));
        await Eventually.Until(() => host.Events!.Count(SecurityEventKind.PublishDenied) == 1, "the site broker to refuse the publish");
    }

    [Fact]
    public async Task AGatewayThatListsMoreDevicesThanTheFleetAllowsIt_LosesOnlyTheirMessages_NotItsLinkNorItsPartials()
    {
        // Configuration drift: the fleet lets site-a speak for dev-a1 only; the gateway itself was told dev-a*.
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a1"] } },
        };
        await using var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
        var gatewayOptions = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] }, Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials },
        };
        await using var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        ScriptedDevice OnSite(string id) => new(id, "test", host.SiteEndpoint, new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate(id)));

        // dev-a2's status goes first: the fleet's broker refuses it; dev-a1's behind it still arrives, and its round completes.
        await using var unlisted = OnSite("dev-a2");
        await unlisted.ConnectAsync(samples: 10);
        await Eventually.Until(() => host.Gateway!.RefusedUpstream >= 1, "the fleet's broker to refuse the relay of a device it does not list for site-a");
        await using var listed = OnSite("dev-a1");
        await listed.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1, "dev-a1's status relayed after the refused one");
        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await listed.NextTaskAsync(TimeSpan.FromSeconds(20));
        await listed.PublishAsync("update", listed.Update(task, 0.02f, samples: 10));
        Assert.Equal(1, (await round).Contributors);
        Assert.Equal(1, host.Gateway!.PartialsSent);
        Assert.Equal(["dev-a1"], node.Devices.Eligible().Select(d => d.DeviceId));
        Assert.True(node.Security.Events.Count(SecurityEventKind.PublishDenied) >= 1);
    }

    /// <summary>Connects <paramref name="devices"/> (10 samples each), waits until the fleet sees them all, starts a round and takes each one's task.</summary>
    private static async Task<(float Before, Task<EdgeMlOps.Aggregator.Rounds.RoundReport> Round, List<Shared.Protocol.V1.RoundTask> Tasks)> TaskedRoundAsync(AggregatorNode node, ScriptedDevice[] devices)
    {
        foreach (var device in devices) await device.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == devices.Length, $"the {devices.Length} devices eligible at the fleet (statuses relayed through the gateways)");
        var before = node.CurrentWeights.Values[0];
        var round = node.RunRoundAsync(CancellationToken.None);
        var tasks = new List<Shared.Protocol.V1.RoundTask>();
        foreach (var device in devices) tasks.Add(await device.NextTaskAsync(TimeSpan.FromSeconds(20)));
        return (before, round, tasks);
    }

    /// <summary>A raw MQTT client with a fleet gateway certificate for <paramref name="gatewayId"/>, at <paramref name="broker"/>.</summary>
    private static MqttTransport GatewayClient(AggregatorNode node, MqttEndpoint broker, string gatewayId)
    {
        var certificate = node.Security.Authority.IssueClientWithKey(new Runtime.Security.FleetIdentity(gatewayId, Runtime.Security.FleetRole.Gateway, "test"), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        return new MqttTransport(new MqttTransportOptions(Runtime.Security.FleetIdentity.GatewayClientId(gatewayId), broker)
        {
            CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate), ConnectTimeout = TimeSpan.FromSeconds(5),
        });
    }

    [Fact]
    public async Task AGatewayOfGateways_FoldsASiteGatewaysPartialWithItsOwnDevices_AndTheFleetSeesOneRegionalPartial()
    {
        // The fleet knows the region only; the region lists itself and the site gateway below it.
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 3, deadlineSeconds: 60) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["region-1"] = ["dev-*"] } },
        };
        await using var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var regionCredentials = Path.Combine(AggregatorFixture.TempDirectory(), "region-1");
        var siteCredentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "region-1", regionCredentials, [], DateTimeOffset.UtcNow);
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", siteCredentials, [], DateTimeOffset.UtcNow);
        var regionEdge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["region-1"] = ["dev-*"], ["site-a"] = ["dev-a*"], ["site-x"] = ["dev-x*"] } };
        var logs = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        await using var region = new EdgeGatewayHost(central with
        {
            DataDirectory = AggregatorFixture.TempDirectory(), Edge = regionEdge with { Gateway = "region-1", Upstream = node.BrokerEndpoint, Credentials = regionCredentials },
        }, logs);
        await region.StartAsync(CancellationToken.None);
        await using var site = new EdgeGatewayHost(central with
        {
            DataDirectory = AggregatorFixture.TempDirectory(),
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] }, Gateway = "site-a", Upstream = region.SiteEndpoint, Credentials = siteCredentials },
        }, logs);
        await site.StartAsync(CancellationToken.None);
        await Eventually.Until(() => site.Gateway!.UpstreamConnected, "the site gateway to join the region's broker");

        // Hostile gateways at the region's broker: one it does not list cannot connect; a listed one sending garbage, or a
        // partial for a device of another site, is refused and counted — and the round below is untouched by either.
        await using (var unlisted = GatewayClient(node, region.SiteEndpoint, "site-z"))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => unlisted.ConnectAsync(CancellationToken.None));
        }

        await using (var hostile = GatewayClient(node, region.SiteEndpoint, "site-x"))
        {
            await hostile.ConnectAsync(CancellationToken.None);
            var topic = new Shared.Protocol.Topics("test").GatewayPartial("site-x");
            await hostile.PublishAsync(topic, [0xff, 0x01, 0x02], retain: false, CancellationToken.None);
            var foreign = new Shared.Protocol.V1.EdgePartial
            {
                Header = Shared.Protocol.ProtocolInfo.NewHeader("test", "site-x", 1, 0), ModelName = "tiny", BaseVersion = 1,
                Share = new Shared.Protocol.V1.PartialAggregate { RoundId = "tiny-r1-v1", Replica = "site-x", Count = 1, TotalWeight = 10, Sum = { 100.0 } },
            };
            foreign.Share.Contributors.Add(new Shared.Protocol.V1.PartialContributor { DeviceId = "dev-a1", Samples = 10 });
            await hostile.PublishAsync(topic, Google.Protobuf.MessageExtensions.ToByteArray(foreign), retain: false, CancellationToken.None);

            // A partial of a model line the region does not fold (not in its Aggregator:Lines): it cannot be relayed in the
            // site's name (the fleet's broker lets the region write its own partials only), so it is refused whole, counted.
            foreign.Share.Contributors[0].DeviceId = "dev-x1";
            await hostile.PublishAsync(new Shared.Protocol.Topics("test").ForLine("kws").GatewayPartial("site-x"), Google.Protobuf.MessageExtensions.ToByteArray(foreign), retain: false, CancellationToken.None);
            await Eventually.Until(() => region.Gateway!.Below.Snapshot().Single(g => g.Gateway == "site-x").Refused.Values.Sum() == 3, "the region to refuse all three");
            Assert.Equal(new Dictionary<string, long> { ["Malformed"] = 1, ["NotAuthorized"] = 2 }, region.Gateway!.Below.Snapshot().Single(g => g.Gateway == "site-x").Refused.OrderBy(r => r.Key).ToDictionary());
            Assert.Equal(0, region.Gateway.UnsentUpdates);
        }

        ScriptedDevice At(MqttEndpoint broker, string id) => new(id, "test", broker, new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate(id)));
        var devices = new[] { At(region.SiteEndpoint, "dev-r1"), At(site.SiteEndpoint, "dev-a1"), At(site.SiteEndpoint, "dev-a2") };
        try
        {
            var (before, round, tasks) = await TaskedRoundAsync(node, devices);
            for (var i = 0; i < devices.Length; i++) await devices[i].PublishAsync("update", devices[i].Update(tasks[i], 0.03f * (i + 1), samples: 10));
            var report = await round.WaitAsync(TimeSpan.FromSeconds(50));

            Assert.Equal((EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 3, 0L), (report.Status, report.Contributors, report.Rejected));
            Assert.Equal(before + 0.06f, node.CurrentWeights.Values[0], 1e-5f); // (0.03 + 0.06 + 0.09) / 3
            Assert.Equal(1, site.Gateway!.PartialsSent); // the site's two updates as one partial to the region
            Assert.Equal(1, region.Gateway!.PartialsSent); // the region's own update and the site's partial as one partial to the fleet
            Assert.Equal(3, region.Gateway.Rejections.Total); // the three hostile partials above, nothing of the round
            var below = region.Gateway.Below.Snapshot().Single(g => g.Gateway == "site-a"); // what the region's operator sees of the site
            Assert.Equal((1L, 2L, 0L), (below.PartialsMerged, below.UpdatesMerged, below.Refused.Values.Sum()));

            // The fleet's revocation list reaches the site through the region, and the site refuses the device at its broker.
            await node.RevokeDeviceAsync("dev-a2", "stolen", "alice");
            await Eventually.Until(() => site.Events!.Count(SecurityEventKind.DeviceRevoked) == 1 && !devices[2].IsConnected, "the site's broker to drop the revoked device");
        }
        finally
        {
            foreach (var device in devices) await device.DisposeAsync();
        }
    }

    [Fact]
    public async Task ADeviceRevokedMidRound_AfterTheGatewayFoldedItsUpdate_IsTakenOut_AndTheSitesOtherUpdatesStillCount()
    {
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 3, deadlineSeconds: 8, quorum: 0.6) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } },
        };
        await using var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
        var gatewayOptions = central with
        {
            DataDirectory = AggregatorFixture.TempDirectory(), Edge = central.Edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials },
        };
        await using var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await host.StartAsync(CancellationToken.None);
        var devices = new[] { "dev-a1", "dev-a2", "dev-a3" }
            .Select(id => new ScriptedDevice(id, "test", host.SiteEndpoint, new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate(id)))).ToArray();
        try
        {
            var (before, round, tasks) = await TaskedRoundAsync(node, devices);
            await devices[0].PublishAsync("update", devices[0].Update(tasks[0], 0.04f, samples: 10));
            await devices[1].PublishAsync("update", devices[1].Update(tasks[1], 5f, samples: 10));
            await Eventually.Until(() => host.Gateway!.UnsentUpdates == 2, "the gateway to fold both updates (dev-a3's still owed, so nothing sent)");

            // dev-a2 revoked now: its update sits in the site's unsent partial. The gateway takes it out and folds the rest again.
            await node.RevokeDeviceAsync("dev-a2", "stolen", "alice");
            await Eventually.Until(() => host.Events!.Count(SecurityEventKind.DeviceRevoked) == 1, "the revocation list to reach the gateway");
            await devices[2].PublishAsync("update", devices[2].Update(tasks[2], 0.08f, samples: 10));
            var report = await round;

            Assert.Equal((EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 2, 0L), (report.Status, report.Contributors, report.Rejected)); // the partial was not refused
            Assert.Equal(before + 0.06f, node.CurrentWeights.Values[0], 1e-5f); // (0.04 + 0.08) / 2: nothing of dev-a2's 5.0
        }
        finally
        {
            foreach (var device in devices) await device.DisposeAsync();
        }
    }

    [Fact]
    public async Task ADeviceTheFleetRevoked_IsRefusedAtItsSiteBroker_AlsoWhenTheGatewayRestartsWithoutTheFleet()
    {
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } },
        };
        var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
        GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
        var gatewayOptions = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            Edge = central.Edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials },
        };
        using var ca = X509CertificateLoader.LoadCertificate(node.Security.Authority.Certificate.RawData); // outlives the node
        var certificates = new[] { "dev-a1", "dev-a9" }.ToDictionary(id => id, node.Security.IssueDeviceCertificate); // enrolled while the fleet is there
        var tls = (string id) => new MqttTlsSettings(ca, _ => certificates[id]);

        // Revoked before the gateway ever ran: the retained list reaches it when it joins the fleet.
        await node.RevokeDeviceAsync("dev-a9", "lost in the field", "alice");
        await using (var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance))
        {
            await host.StartAsync(CancellationToken.None);
            await Eventually.Until(() => host.Events!.Count(SecurityEventKind.DeviceRevoked) == 1, "the retained revocation list to reach the gateway");
            await using var lost = new ScriptedDevice("dev-a9", "test", host.SiteEndpoint, tls("dev-a9"));
            await Assert.ThrowsAnyAsync<Exception>(() => lost.ConnectAsync(samples: 10));
            Assert.Contains("device 'dev-a9' is revoked", host.Events!.Recent(5).First(e => e.Kind == SecurityEventKind.ConnectionRefused).Detail, StringComparison.Ordinal);
        }

        await node.DisposeAsync(); // the fleet out of reach: the gateway starts from what it stored

        await using var offline = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await offline.StartAsync(CancellationToken.None);
        await using var stillLost = new ScriptedDevice("dev-a9", "test", offline.SiteEndpoint, tls("dev-a9"));
        await Assert.ThrowsAnyAsync<Exception>(() => stillLost.ConnectAsync(samples: 10));
        await using var good = new ScriptedDevice("dev-a1", "test", offline.SiteEndpoint, tls("dev-a1"));
        await good.ConnectAsync(samples: 10);
        Assert.True(good.IsConnected);
        Assert.Equal(1, offline.Events!.Count(SecurityEventKind.ConnectionRefused));
    }

    [Fact]
    public async Task TheGatewayKeepsTheAnnouncedArtifacts_AndServesThemToItsSite_AlsoWhenTheAggregatorIsGone()
    {
        var central = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with
        {
            HttpUrl = "https://127.0.0.1:0",
            Edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } },
        };
        var node = new AggregatorNode(central);
        await node.StartAsync(CancellationToken.None);
        var nodeDisposed = false;
        try
        {
            var credentials = Path.Combine(AggregatorFixture.TempDirectory(), "site-a");
            GatewayCredentials.Write(node.Security, node.Keys.RootPublicKey, "site-a", credentials, [], DateTimeOffset.UtcNow);
            // A relative data directory, as an operator types it (an artifact under one was a 500 once: Results.File reads a
            // relative path as the web root's).
            var gatewayOptions = AggregatorFixture.Options(Path.GetRelativePath(Environment.CurrentDirectory, AggregatorFixture.TempDirectory()), clients: 2) with
            {
                HttpUrl = "https://127.0.0.1:0",
                Edge = central.Edge with { Gateway = "site-a", Upstream = node.BrokerEndpoint, Credentials = credentials, UpstreamApi = node.ArtifactBaseUrl },
            };
            await using var host = new EdgeGatewayHost(gatewayOptions, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
            await host.StartAsync(CancellationToken.None);

            // The retained announcement names v1's files: the gateway fetches them before any device asks.
            var sha256 = node.CurrentVersion.InferenceSha256;
            string[] named = [sha256, node.CurrentVersion.TrainStepSha256]; // the inference graph and the train step
            await Eventually.Until(() => named.All(n => File.Exists(Path.Combine(gatewayOptions.DataDirectory, "artifacts", n))), "v1's artifacts fetched ahead");
            Assert.Equal(2, host.Artifacts!.Fetched);
            var fetched = host.Artifacts!.Fetched;

            // A device of the site downloads from the gateway (HTTPS, the fleet CA pinned) — also once the aggregator is gone.
            using var device = new HttpClient(Shared.Security.PinnedHttp.Handler(node.Security.Authority.Certificate));
            var url = new Uri(host.ArtifactBaseUrl!, $"v1/artifacts/{sha256}");
            Assert.Equal(sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await device.GetByteArrayAsync(url))));

            // The site's state for an operator, on the same HTTPS listener — with a viewer's token only.
            var statusUrl = new Uri(host.ArtifactBaseUrl!, "v1/gateway/status");
            async Task<System.Text.Json.JsonElement> StatusAsync()
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, statusUrl);
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", EdgeMlOps.Tests.Viewer.Token);
                using var response = await device.SendAsync(request);
                response.EnsureSuccessStatusCode();
                return System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            }

            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await device.GetAsync(statusUrl)).StatusCode);
            var status = await StatusAsync();
            Assert.Equal("site-a", status.GetProperty("gateway").GetString());
            Assert.Equal(0, status.GetProperty("unsentUpdates").GetInt32());
            Assert.True(status.GetProperty("upstreamConnected").GetBoolean());
            Assert.Equal(0, status.GetProperty("gatewaysBelow").GetArrayLength()); // a site gateway: none below it
            Assert.Equal((2L, 0L, 0L), (status.GetProperty("artifactsFetched").GetInt64(), status.GetProperty("refusedUpstream").GetInt64(), status.GetProperty("dropped").GetInt64()));
            Assert.Equal(0L, status.GetProperty("cataloguesRefused").GetInt64());
            Assert.Equal(0L, status.GetProperty("artifactsEvicted").GetInt64()); // two files, far below Edge:CachedArtifacts

            await node.DisposeAsync();
            nodeDisposed = true;
            Assert.Equal(sha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await device.GetByteArrayAsync(url))));
            Assert.Equal(fetched, host.Artifacts.Fetched); // served from the gateway's disk
            await Eventually.Until(
                async () => !(await StatusAsync()).GetProperty("upstreamConnected").GetBoolean(),
                "the gateway's status to show the fleet's broker gone");

            // A file nobody has: the gateway cannot give it (and keeps nothing).
            var missing = await device.GetAsync(new Uri(host.ArtifactBaseUrl!, $"v1/artifacts/{new string('a', 64)}"));
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Equal(400, (int)(await device.GetAsync(new Uri(host.ArtifactBaseUrl!, "v1/artifacts/not-a-hash"))).StatusCode);
        }
        finally
        {
            if (!nodeDisposed) await node.DisposeAsync();
        }
    }
}
