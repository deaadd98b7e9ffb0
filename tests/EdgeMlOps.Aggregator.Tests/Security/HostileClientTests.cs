using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// An attacker on the same network, with real MQTT clients against the embedded broker's TLS
/// listener: every attempt is refused, counted as a security event, and honest devices go on.
/// </summary>
public class HostileClientTests
{
    private static async Task<AggregatorNode> StartAsync()
    {
        var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1));
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    private static MqttTransport Client(AggregatorNode node, string clientId, MqttTlsSettings? tls, MqttEndpoint? endpoint = null) =>
        new(new MqttTransportOptions(clientId, endpoint ?? node.BrokerEndpoint) { CleanStart = true, Tls = tls, ConnectTimeout = TimeSpan.FromSeconds(5) });

    [Fact]
    public async Task EmbeddedBroker_ListensOnTlsOnly_ByDefault()
    {
        await using var node = await StartAsync();
        Assert.True(node.BrokerEndpoint.Tls);
        Assert.NotNull(node.Broker!.Tls);
    }

    [Fact]
    public async Task AnonymousClient_WithoutCertificate_CannotConnect()
    {
        await using var node = await StartAsync();
        var noCertificate = new MqttTlsSettings(node.Security.Authority.Certificate, _ => null);
        await using var anonymous = Client(node, "anon", noCertificate);
        await Assert.ThrowsAnyAsync<Exception>(() => anonymous.ConnectAsync(CancellationToken.None));

        // Plain MQTT to the TLS port gets no further.
        await using var plain = Client(node, "anon", null, node.BrokerEndpoint with { Tls = false });
        await Assert.ThrowsAnyAsync<Exception>(() => plain.ConnectAsync(CancellationToken.None));
        Assert.False(plain.IsConnected);
    }

    [Fact]
    public async Task CertificateFromAnotherCa_IsRefused_AndCounted()
    {
        await using var node = await StartAsync();
        using var rogueCa = new FleetCertificateAuthority(AggregatorFixture.TempDirectory(), "test", DateTimeOffset.UtcNow);
        using var forged = rogueCa.IssueClientWithKey(new FleetIdentity("a", FleetRole.Device, "test"), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        await using var client = Client(node, "a", new MqttTlsSettings(node.Security.Authority.Certificate, _ => forged));
        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(CancellationToken.None));
        await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.ConnectionRefused) >= 1, "the refusal to be counted");
    }

    [Fact]
    public async Task Device_CannotUseAnotherDevicesOrTheAggregatorsClientId()
    {
        await using var node = await StartAsync();
        var mallory = ScriptedDevice.CertificateFor(node, "mallory");
        foreach (var stolenId in new[] { "victim", "aggregator-test" })
        {
            await using var client = Client(node, stolenId, mallory);
            var ex = await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync(CancellationToken.None));
            Assert.Contains("NotAuthorized", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(2, node.Security.Events.Count(SecurityEventKind.ConnectionRefused));
        Assert.True(node.IsBrokerConnected, "the aggregator keeps its session");
    }

    [Fact]
    public async Task Device_SubscribingToEverything_IsDisconnected_AndSeesNothing()
    {
        await using var node = await StartAsync();
        var received = 0;
        await using var snoop = Client(node, "snoop", ScriptedDevice.CertificateFor(node, "snoop"));
        snoop.MessageReceived = (_, _) => { Interlocked.Increment(ref received); return Task.CompletedTask; };
        await snoop.ConnectAsync(CancellationToken.None);
        try
        {
            await snoop.SubscribeAsync(["#"], CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The broker may close the connection before acknowledging.
        }

        await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.SubscribeDenied) == 1, "the subscription to be denied");
        await Eventually.Until(() => !snoop.IsConnected, "the snoop to be disconnected");
        Assert.Equal(0, Volatile.Read(ref received));
    }

    [Fact]
    public async Task Device_AnsweringAnotherDevicesTask_IsDenied_AndTheRealDeviceIsCounted()
    {
        await using var node = await StartAsync();
        await using var honest = new ScriptedDevice("honest", "test", node);
        await honest.ConnectAsync(samples: 10);
        await using var attacker = new ScriptedDevice("attacker", "test", node);
        await attacker.ConnectAsync(samples: 0);
        await Eventually.Until(() => node.Devices.Eligible().Count == 1, "the honest device to be eligible");

        // The attacker writes an update and a status into the honest device's topics with its own certificate.
        var impostor = new ScriptedDevice("honest", "test", node.BrokerEndpoint, ScriptedDevice.CertificateFor(node, "attacker"));
        await Assert.ThrowsAnyAsync<Exception>(() => impostor.ConnectAsync(samples: 1_000_000));
        await impostor.DisposeAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => attacker.PublishRawAsync("../honest/update", [1, 2, 3]));
        await Eventually.Until(() => !attacker.IsConnected, "the attacker to be disconnected");

        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await honest.NextTaskAsync(TimeSpan.FromSeconds(20));
        await honest.PublishAsync("update", honest.Update(task, 0.01f, samples: 10));
        var report = await round;
        Assert.Equal(1, report.Contributors);
        Assert.True(node.Security.Events.Count(SecurityEventKind.PublishDenied) + node.Security.Events.Count(SecurityEventKind.ConnectionRefused) >= 2);
    }

    [Fact]
    public async Task Status_NamingAnotherSender_IsRefused_AndCreatesNoDevice()
    {
        await using var node = await StartAsync();
        await using var device = new ScriptedDevice("real", "test", node);
        await device.ConnectAsync(samples: 3);
        var forged = new DeviceStatus { Header = device.Header(), State = DeviceState.Online, SampleCount = 1_000_000 };
        forged.Header.SenderId = "ghost";
        await device.PublishAsync("status", forged);
        await Eventually.Until(() => node.Rejections[EdgeMlOps.Shared.RejectionReason.Malformed] == 1, "the mismatched status to be refused");
        Assert.False(node.Devices.TryGet("ghost", out _));
        Assert.True(node.Devices.TryGet("real", out var real) && real.SampleCount == 3);
    }

    [Fact]
    public async Task VandalisedRetainedAnnouncement_IsRestoredByTheAggregator()
    {
        await using var node = await StartAsync();
        var topic = new EdgeMlOps.Shared.Protocol.Topics("test").Model;

        // A client holding write access to the retained topic (a compromised broker account) overwrites it with garbage.
        await using (var vandal = Client(node, "aggregator-vandal", node.Security.ClientTls))
        {
            await vandal.ConnectAsync(CancellationToken.None);
            await Task.Delay(RetainedTopicGuard.EchoWindow);
            await vandal.PublishAsync(topic, [0xde, 0xad], retain: true, CancellationToken.None);
        }

        await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.RetainedRestored) == 1, "the vandalism to be noticed");

        // A device arriving now still finds the signed announcement.
        var received = new TaskCompletionSource<ModelAnnouncement>();
        await using var newcomer = Client(node, "newcomer", ScriptedDevice.CertificateFor(node, "newcomer"));
        newcomer.MessageReceived = (_, payload) =>
        {
            try
            {
                received.TrySetResult(ModelAnnouncement.Parser.ParseFrom(payload));
            }
            catch (Google.Protobuf.InvalidProtocolBufferException)
            {
                // The garbage, if it arrives first.
            }

            return Task.CompletedTask;
        };
        await newcomer.SubscribeAsync([topic], CancellationToken.None);
        await newcomer.ConnectAsync(CancellationToken.None);
        var announcement = await received.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(node.CurrentVersion.Version, announcement.Version);
    }

    [Fact]
    public async Task OversizedPublish_FromADevice_IsDropped_AndTheDeviceDisconnected()
    {
        await using var node = await StartAsync();
        await using var device = new ScriptedDevice("big", "test", node);
        await device.ConnectAsync(samples: 1);
        var before = node.Rejections[EdgeMlOps.Shared.RejectionReason.Oversized];
        await Assert.ThrowsAnyAsync<Exception>(() => device.PublishRawAsync("update", new byte[EdgeMlOps.Shared.Protocol.ProtocolInfo.MaxPayloadBytes + 1]));
        await Eventually.Until(() => device.WasDisconnected, "the device to be disconnected");
        Assert.Equal(1, node.Security.Events.Count(SecurityEventKind.PublishDenied));
        Assert.Equal(before, node.Rejections[EdgeMlOps.Shared.RejectionReason.Oversized]);
    }

    [Fact]
    public async Task APacketDeclaringAHundredMegabytes_IsRefusedAsItBegins_WithoutTheBrokerReadingIt()
    {
        await using var node = await StartAsync();
        var certificate = node.Security.IssueDeviceCertificate("huge");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(node.BrokerEndpoint.Host, node.BrokerEndpoint.Port);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = node.BrokerEndpoint.Host,
            ClientCertificates = [certificate],
        });

        // MQTT 5 CONNECT as device "huge", then CONNACK.
        byte[] id = System.Text.Encoding.ASCII.GetBytes("huge");
        byte[] connect = [0x10, (byte)(13 + id.Length), 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 5, 0x02, 0, 60, 0, 0, (byte)id.Length, .. id];
        await tls.WriteAsync(connect);
        var connack = new byte[64];
        Assert.True(await tls.ReadAsync(connack) > 0);
        Assert.Equal(0x20, connack[0]);

        // A PUBLISH declaring 100,000,000 bytes (the MQTT maximum is 268 MB), then the first 64 KiB of it.
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        byte[] header = [0x30, 0x80, 0xC2, 0xD7, 0x2F]; // remaining length 100,000,000 as a variable byte integer
        var closed = false;
        try
        {
            await tls.WriteAsync(header);
            for (var i = 0; i < 16 && !closed; i++) await tls.WriteAsync(new byte[4096]);
            closed = await tls.ReadAsync(new byte[16]) == 0;
        }
        catch (IOException)
        {
            closed = true;
        }

        Assert.True(closed, "the broker closes the connection");
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.True(allocated < 20_000_000, $"{allocated:N0} bytes allocated in the process while the packet was refused (MQTTnet alone allocates its 100 MB body)");
        await Eventually.Until(() => node.Security.Events.Count(SecurityEventKind.PublishDenied) == 1, "the refusal recorded");
        Assert.Contains(node.Security.Events.Recent(10), e => e.Detail.Contains("packet of 100000005 bytes refused as it began", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ConnectionsThatNeverFinishTheirTlsHandshake_AreClosedAtTheTimeout_WhileADeviceConnects()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        await using var node = new AggregatorNode(options with { Security = options.Security with { TlsHandshakeTimeout = TimeSpan.FromSeconds(2) } });
        await node.StartAsync(CancellationToken.None);

        // 100 sockets that send nothing, and one that sends the first bytes of a ClientHello and stalls.
        var stalled = new List<System.Net.Sockets.TcpClient>();
        for (var i = 0; i < 101; i++)
        {
            var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(node.BrokerEndpoint.Host, node.BrokerEndpoint.Port);
            stalled.Add(tcp);
        }

        await stalled[^1].GetStream().WriteAsync(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01 });
        try
        {
            // They hold no one up: a device connects at once.
            var started = System.Diagnostics.Stopwatch.StartNew();
            await using (var device = Client(node, "dev-ok", new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate("dev-ok"))))
            {
                await device.ConnectAsync(CancellationToken.None);
                Assert.True(device.IsConnected);
            }

            Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"a device took {started.Elapsed} to connect beside 101 stalled sockets");

            // At the timeout the broker closes every one of them (a read sees the end of the stream).
            var closed = await Task.WhenAll(stalled.Select(async tcp =>
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                try
                {
                    return await tcp.GetStream().ReadAsync(new byte[16], wait.Token) == 0;
                }
                catch (IOException)
                {
                    return true; // reset by the broker
                }
            }));
            Assert.All(closed, Assert.True);
            await Eventually.Until(() => node.Security.Events.Recent(500).Count(e => e.Detail.StartsWith("TLS handshake not completed within 2 s", StringComparison.Ordinal)) == 101, "101 handshake timeouts recorded");
        }
        finally
        {
            foreach (var tcp in stalled) tcp.Dispose();
        }
    }

    [Fact]
    public async Task AFloodOfStalledHandshakes_IsCappedAtOnce_SoItCannotTakeTheProcesssDescriptors()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        await using var node = new AggregatorNode(options with { Security = options.Security with { TlsHandshakeTimeout = TimeSpan.FromSeconds(3), MaxPendingTlsHandshakes = 20 } });
        await node.StartAsync(CancellationToken.None);

        // 20 stalled sockets fill the cap; the next 30 are closed at once, long before any handshake timeout.
        var stalled = new List<System.Net.Sockets.TcpClient>();
        try
        {
            for (var i = 0; i < 20; i++)
            {
                stalled.Add(new System.Net.Sockets.TcpClient());
                await stalled[^1].ConnectAsync(node.BrokerEndpoint.Host, node.BrokerEndpoint.Port);
            }

            await Task.Delay(300); // the broker has taken all 20 into their handshakes
            var beyond = new List<System.Net.Sockets.TcpClient>();
            for (var i = 0; i < 30; i++)
            {
                beyond.Add(new System.Net.Sockets.TcpClient());
                await beyond[^1].ConnectAsync(node.BrokerEndpoint.Host, node.BrokerEndpoint.Port);
            }

            var started = System.Diagnostics.Stopwatch.StartNew();
            var closed = await Task.WhenAll(beyond.Select(async tcp =>
            {
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    return await tcp.GetStream().ReadAsync(new byte[16], wait.Token) == 0;
                }
                catch (IOException)
                {
                    return true;
                }
            }));
            Assert.All(closed, Assert.True);
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"the connections beyond the cap were closed after {started.Elapsed}, not at once");
            await Eventually.Until(() => node.Security.Events.Recent(500).Count(e => e.Detail.StartsWith("20 connections already in their TLS handshake", StringComparison.Ordinal)) == 30, "30 refusals at the cap recorded");
            foreach (var tcp in beyond) tcp.Dispose();

            // Once the stalled ones time out, the cap is free again: a device connects.
            await Eventually.Until(() => node.Security.Events.Recent(500).Count(e => e.Detail.StartsWith("TLS handshake not completed within 3 s", StringComparison.Ordinal)) == 20, "the 20 stalled handshakes timed out");
            await using var device = Client(node, "dev-ok", new MqttTlsSettings(node.Security.Authority.Certificate, _ => node.Security.IssueDeviceCertificate("dev-ok")));
            await device.ConnectAsync(CancellationToken.None);
            Assert.True(device.IsConnected);
        }
        finally
        {
            foreach (var tcp in stalled) tcp.Dispose();
        }
    }

    [Fact]
    public async Task PerTopicLimits_AStatusOrAnUpdateFarBeyondWhatTheModelNeeds_IsDroppedAtTheBroker()
    {
        await using var node = await StartAsync();
        var limits = DevicePublishLimits.For(AggregatorFixture.Spec, node.Options.Monitoring.MaxProfileBytes);
        Assert.True(limits.Update < EdgeMlOps.Shared.Protocol.ProtocolInfo.MaxPayloadBytes / 2, $"update limit {limits.Update} for a 4-3-2 model");

        // A status of 100 KiB (a real one is a few hundred bytes) never reaches the aggregator.
        await using var chatty = new ScriptedDevice("chatty", "test", node);
        await chatty.ConnectAsync(samples: 1);
        await Assert.ThrowsAnyAsync<Exception>(() => chatty.PublishRawAsync("status", new byte[100 * 1024]));
        await Eventually.Until(() => chatty.WasDisconnected, "the chatty device to be disconnected");

        // An update just over the model's bound: dropped too. One just under it passes the broker (and is judged by the aggregator).
        await using var heavy = new ScriptedDevice("heavy", "test", node);
        await heavy.ConnectAsync(samples: 1);
        var malformedBefore = node.Rejections[EdgeMlOps.Shared.RejectionReason.Malformed];
        await heavy.PublishRawAsync("update", new byte[limits.Update - 1024]);
        await Eventually.Until(() => node.Rejections[EdgeMlOps.Shared.RejectionReason.Malformed] > malformedBefore, "the under-limit update judged by the aggregator");
        await Assert.ThrowsAnyAsync<Exception>(() => heavy.PublishRawAsync("update", new byte[limits.Update + 1]));
        await Eventually.Until(() => heavy.WasDisconnected, "the heavy device to be disconnected");
        Assert.Equal(2, node.Security.Events.Count(SecurityEventKind.PublishDenied));
    }

    [Fact]
    public async Task FloodingDevice_IsCutOffAtItsRate_AndOthersGoOn()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Security = new SecurityOptions { DeviceMessagesPerSecond = 1, DeviceMessageBurst = 20 },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var flooder = new ScriptedDevice("flood", "test", node);
        await flooder.ConnectAsync(samples: 1);
        await using var quiet = new ScriptedDevice("quiet", "test", node);
        await quiet.ConnectAsync(samples: 1);

        var sent = 0;
        try
        {
            for (; sent < 200; sent++) await flooder.PublishAsync("status", new DeviceStatus { Header = flooder.Header(), State = DeviceState.Online, SampleCount = 1 });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Refused and disconnected.
        }

        Assert.InRange(sent, 18, 25);
        await Eventually.Until(() => flooder.WasDisconnected, "the flooder to be disconnected");
        Assert.True(node.Security.Events.Count(SecurityEventKind.PublishDenied) >= 1);
        await quiet.PublishAsync("status", new DeviceStatus { Header = quiet.Header(), State = DeviceState.Online, SampleCount = 7 });
        await Eventually.Until(() => node.Devices.TryGet("quiet", out var d) && d.SampleCount == 7, "the quiet device to go on");
    }

    [Fact]
    public async Task DegradedDevices_AreCountedByReason()
    {
        await using var node = await StartAsync();
        await using var full = new ScriptedDevice("full", "test", node);
        await using var fellBack = new ScriptedDevice("fell-back", "test", node);
        foreach (var d in new[] { full, fellBack }) await d.ConnectAsync(samples: 1);
        await full.PublishAsync("status", new DeviceStatus { Header = full.Header(), State = DeviceState.Online, StorageNotice = "agent.db: disk full" });
        await fellBack.PublishAsync("status", new DeviceStatus { Header = fellBack.Header(), State = DeviceState.Online, ModelNotice = "v2 did not finish its health window; rolled back to v1" });
        await Eventually.Until(() => node.Devices.TryGet("full", out var f) && f.StorageNotice.Length > 0 && node.Devices.TryGet("fell-back", out var b) && b.ModelNotice.Length > 0, "both notices in the directory");
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("edgemlops_devices_degraded{reason=\"storage\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("edgemlops_devices_degraded{reason=\"model\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceWithExpiredStatements_IsCountedBehind_AndSecurityEventsAreExported()
    {
        await using var node = await StartAsync();
        await using var device = new ScriptedDevice("frozen", "test", node);
        await device.ConnectAsync(samples: 1);
        await device.PublishAsync("status", new DeviceStatus { Header = device.Header(), State = DeviceState.Online, FreshUntilUnixMs = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() });
        await Eventually.Until(() => node.Devices.TryGet("frozen", out var d) && d.FreshUntil is not null, "the freshness in the directory");
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("edgemlops_devices_behind 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("edgemlops_security_events_total{kind=\"PublishDenied\"} 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedDevice_IsDroppedAtOnce_CannotReconnect_NorEnrollAgain()
    {
        await using var node = await StartAsync();
        var tls = ScriptedDevice.CertificateFor(node, "lost");
        await using (var device = Client(node, "lost", tls))
        {
            await device.ConnectAsync(CancellationToken.None);
            await node.RevokeDeviceAsync("lost", "stolen from the depot", "ops");
            await Eventually.Until(() => !device.IsConnected, "the revoked device to be dropped");
        }

        await using var again = Client(node, "lost", tls);
        await Assert.ThrowsAnyAsync<Exception>(() => again.ConnectAsync(CancellationToken.None));
        var outcome = node.Security.Enrollment.Enroll(new EnrollmentRequest("lost", node.Security.FleetEnrollmentToken, Csr()));
        Assert.Equal(403, outcome.Status);
        Assert.Contains(node.Audit.Entries("devices/lost", 10), e => e.Action == "device.revoke");
    }

    [Fact]
    public async Task ASelectedDeviceRevokedMidRound_IsNotWaitedFor_TheRoundClosesLongBeforeItsDeadline()
    {
        await using var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2, deadlineSeconds: 120, quorum: 0.5));
        await node.StartAsync(CancellationToken.None);
        await using var kept = new ScriptedDevice("kept", "test", node);
        await kept.ConnectAsync(samples: 10);
        await using var lost = new ScriptedDevice("lost", "test", node);
        await lost.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");

        var before = node.CurrentWeights.Values[0];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await kept.NextTaskAsync(TimeSpan.FromSeconds(20));
        await lost.NextTaskAsync(TimeSpan.FromSeconds(20));
        await kept.PublishAsync("update", kept.Update(task, 0.02f, samples: 10));

        // The other selected device is stolen before it answers: it can never report, so once the kept device's update
        // is in (before or after the revocation), nobody is left to wait for.
        await node.RevokeDeviceAsync("lost", "stolen", "ops");
        var report = await round.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the round took {clock.Elapsed} (deadline 120 s)");
        Assert.Equal((EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 1), (report.Status, report.Contributors));
        Assert.Equal(before + 0.02f, node.CurrentWeights.Values[0], 1e-5f);
    }

    [Fact]
    public async Task Enrollment_OverHttp_IssuesACertificateForTheRequestersKey_AndRefusesWhatItShould()
    {
        await using var node = await StartAsync();
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=whatever", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

        var wrong = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-9", "guess", csr), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(401, (int)wrong.StatusCode);

        var ok = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-9", node.Security.FleetEnrollmentToken, csr), EnrollmentJson.Default.EnrollmentRequest);
        ok.EnsureSuccessStatusCode();
        var issued = (await ok.Content.ReadFromJsonAsync(EnrollmentJson.Default.EnrollmentResponse))!;
        using var certificate = X509Certificate2.CreateFromPem(issued.CertificatePem);
        Assert.Equal(new FleetIdentity("dev-9", FleetRole.Device, "test"), FleetIdentity.FromCertificate(certificate));
        Assert.True(certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()));
        Assert.True(CertificateChain.IsIssuedBy(certificate, node.Security.Authority.Certificate, DateTimeOffset.UtcNow, out _));
        Assert.True(certificate.NotAfter.ToUniversalTime() <= DateTime.UtcNow.AddDays(SecurityOptions.DefaultDeviceCertificateDays).AddMinutes(1));

        // The fleet token cannot take over an enrolled device, nor claim the aggregator's name.
        var takeover = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-9", node.Security.FleetEnrollmentToken, Csr()), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(409, (int)takeover.StatusCode);
        var reserved = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("aggregator-test", node.Security.FleetEnrollmentToken, Csr()), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(400, (int)reserved.StatusCode);

        // A one-time token bound to the device re-enrolls it once (a re-flashed device).
        var token = node.Security.CreateToken("dev-9", TimeSpan.FromHours(1), uses: 1, "ops");
        Assert.Equal(200, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-9", token, Csr())).Status);
        Assert.Equal(401, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-9", token, Csr())).Status);
        Assert.Equal(401, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-10", node.Security.CreateToken("dev-9", TimeSpan.FromHours(1), 1, "ops"), Csr())).Status);
        Assert.True(node.Security.Events.Count(SecurityEventKind.EnrollmentRefused) >= 4);
    }

    [Fact]
    public async Task AnEnrollmentAskedAgainForTheKeyOfItsLiveCertificate_IsAnsweredAgain_AnotherKeyIsNot()
    {
        // The device's first answer was lost (a timeout, a dropped link, a failure here after the certificate was recorded).
        await using var node = await StartAsync();
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=dev-a", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var fleetToken = node.Security.FleetEnrollmentToken;
        var first = node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-a", fleetToken, csr));
        Assert.Equal(200, first.Status);

        var again = node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-a", fleetToken, csr));
        Assert.Equal(200, again.Status);
        using (var reissued = X509Certificate2.CreateFromPem(again.Issued!.CertificatePem))
        {
            Assert.True(reissued.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()));
            Assert.Equal("dev-a", FleetIdentity.FromCertificate(reissued)!.Id);
        }

        Assert.Equal(409, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-a", fleetToken, Csr())).Status); // another key: a takeover
        Assert.Equal(401, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-b", "guess", csr)).Status);      // the key of another device's certificate

        // A one-time token, spent by an enrollment whose answer was lost: the same key is answered again, another is not.
        using var reflashed = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var reflashedCsr = new CertificateRequest("CN=dev-c", reflashed, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var token = node.Security.CreateToken("dev-c", TimeSpan.FromHours(1), uses: 1, "ops");
        Assert.Equal(200, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-c", token, reflashedCsr)).Status);
        Assert.Equal(200, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-c", token, reflashedCsr)).Status);
        Assert.Equal(401, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-c", token, Csr())).Status);

        // A revoked device is not answered again, whatever key it shows.
        await node.RevokeDeviceAsync("dev-a", "stolen", "ops");
        Assert.Equal(403, node.Security.Enrollment.Enroll(new EnrollmentRequest("dev-a", fleetToken, csr)).Status);
    }

    [Fact]
    public async Task Enrollment_OversizedOrMalformedBodies_AreRefusedWithTheirReason()
    {
        await using var node = await StartAsync();
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        var huge = await http.PostAsync("/v1/enroll", new ByteArrayContent(new byte[EdgeMlOps.Aggregator.Http.EnrollmentApi.MaxBodyBytes + 1]));
        Assert.Equal(413, (int)huge.StatusCode);
        var garbage = await http.PostAsync("/v1/enroll", new StringContent("{\"deviceId\": 7, "));
        Assert.Equal(400, (int)garbage.StatusCode);
        Assert.Contains("not valid JSON", await garbage.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var notACsr = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-x", node.Security.FleetEnrollmentToken, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(400, (int)notACsr.StatusCode);
        var noCsr = await http.PostAsync("/v1/enroll", new StringContent($"{{\"deviceId\": \"dev-y\", \"token\": \"{node.Security.FleetEnrollmentToken}\"}}"));
        Assert.Equal(400, (int)noCsr.StatusCode);
        var noId = await http.PostAsync("/v1/enroll", new StringContent($"{{\"token\": \"{node.Security.FleetEnrollmentToken}\"}}"));
        Assert.Equal(400, (int)noId.StatusCode);
        Assert.Empty(node.Security.Store.Devices());
    }

    [Fact]
    public async Task Renewal_NeedsProofOfTheCurrentKey()
    {
        await using var node = await StartAsync();
        using var current = node.Security.IssueDeviceCertificate("dev-r");
        using var next = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=x", next, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var der = Convert.FromBase64String(csr[PemEncoding.Find(csr).Base64Data]);
        using var stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var forged = node.Security.Enrollment.Renew(new RenewalRequest(current.ExportCertificatePem(), csr, Convert.ToBase64String(stranger.SignData(der, HashAlgorithmName.SHA256))));
        Assert.Equal(401, forged.Status);
        var renewed = node.Security.Enrollment.Renew(new RenewalRequest(current.ExportCertificatePem(), csr, Convert.ToBase64String(current.GetECDsaPrivateKey()!.SignData(der, HashAlgorithmName.SHA256))));
        Assert.Equal(200, renewed.Status);
        using var issued = X509Certificate2.CreateFromPem(renewed.Issued!.CertificatePem);
        Assert.Equal("dev-r", FleetIdentity.FromCertificate(issued)!.Id);
    }

    private static string Csr()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
    }
}
