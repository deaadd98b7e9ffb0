using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// Mutation fuzzing of the MQTT wire itself (docs/SECURITY.md, "Mutation fuzzing"): an enrolled device's certificate
/// opens 120 raw TLS connections to the embedded broker, each sending a valid MQTT 5 session — CONNECT, SUBSCRIBE to
/// its task topic, a PUBLISH of its status, PINGREQ, DISCONNECT — with one to three byte edits
/// (<see cref="ByteMutator"/>: changed, inserted and deleted bytes, cut streams; lengths and property ids that lie).
/// The broker answers or closes each connection without taking the aggregator down: afterwards an honest device that
/// stayed connected throughout still reaches it, and the health endpoint answers. Seeded: <c>EDGEMLOPS_FUZZ_SEED</c>.
/// </summary>
public sealed class MqttWireFuzzTests(ITestOutputHelper output)
{
    private static readonly Topics Topics = new("test");

    [Fact]
    public async Task MutatedMqttSessionsOfADevice_AreAnsweredOrClosed_AndTheBrokerServesAnHonestDeviceThroughout()
    {
        await using var node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1));
        await node.StartAsync(CancellationToken.None);
        await using var honest = new ScriptedDevice("dev-ok", "test", node);
        await honest.ConnectAsync(samples: 5);
        await Eventually.Until(() => node.Devices.TryGet("dev-ok", out var d) && d.SampleCount == 5, "the honest device's status");

        var certificate = node.Security.IssueDeviceCertificate("mallory");
        var session = Session("mallory");
        var random = new Random(FuzzSeed.Value);
        var (answered, closed) = (0, 0);
        for (var i = -1; i < 120; i++)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(node.BrokerEndpoint.Host, node.BrokerEndpoint.Port);
            await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = node.BrokerEndpoint.Host, ClientCertificates = [certificate] });
            try
            {
                await tls.WriteAsync(i < 0 ? session : ByteMutator.Mutate(session, random)); // first the session as it is: it connects and its status arrives
                if (i < 0)
                {
                    await Eventually.Until(() => node.Devices.TryGet("mallory", out var m) && m.SampleCount == 3, "the unmutated session's status");
                    continue;
                }

                using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                var read = await tls.ReadAsync(new byte[4096], wait.Token);
                if (read > 0) answered++;
                else closed++;
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                closed++;
            }
        }

        output.WriteLine($"120 mutated sessions: {answered} answered, {closed} closed or silent");
        Assert.False(honest.WasDisconnected, "the honest device kept its connection");
        await honest.PublishAsync("status", new DeviceStatus { Header = honest.Header(), State = DeviceState.Online, SampleCount = 77 });
        await Eventually.Until(() => node.Devices.TryGet("dev-ok", out var d) && d.SampleCount == 77, "the honest device's next status");
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        Assert.True((await http.GetAsync("/healthz")).IsSuccessStatusCode);
        Assert.InRange(answered, 1, 119);
    }

    /// <summary>A valid MQTT 5 session of device <paramref name="id"/>, as bytes: CONNECT, SUBSCRIBE, PUBLISH (its status), PINGREQ, DISCONNECT.</summary>
    private static byte[] Session(string id)
    {
        var status = new DeviceStatus { Header = ProtocolInfo.NewHeader("test", id, 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), State = DeviceState.Online, SampleCount = 3 }.ToByteArray();
        byte[] connect = [0, 4, .. "MQTT"u8, 5, 0x02, 0, 60, 0, .. Text(id)];
        byte[] subscribe = [0, 1, 0, .. Text(Topics.Task(id)), 0x01];
        byte[] publish = [.. Text(Topics.Status(id)), 0, .. status];
        return [.. Packet(0x10, connect), .. Packet(0x82, subscribe), .. Packet(0x30, publish), 0xC0, 0, 0xE0, 0];
    }

    private static byte[] Text(string text) => [(byte)(Encoding.UTF8.GetByteCount(text) >> 8), (byte)Encoding.UTF8.GetByteCount(text), .. Encoding.UTF8.GetBytes(text)];

    /// <summary>A fixed header (type and flags, then the remaining length as a variable byte integer) and the body.</summary>
    private static byte[] Packet(byte type, byte[] body)
    {
        var header = new List<byte> { type };
        var length = body.Length;
        do
        {
            var digit = (byte)(length % 128);
            length /= 128;
            header.Add(length > 0 ? (byte)(digit | 0x80) : digit);
        }
        while (length > 0);
        return [.. header, .. body];
    }
}
