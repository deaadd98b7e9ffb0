using System.Diagnostics;
using System.Net;
using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Bench;

/// <summary>
/// What TLS with client certificates costs on the embedded broker, plain and TLS side by side in one run:
/// connection set-up (handshake + MQTT CONNECT) and QoS 1 publishing of small (status-sized) and large
/// (update-sized) messages. <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- tls-cost</c>.
/// </summary>
public static class TlsCost
{
    public static async Task RunAsync(TextWriter output)
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-tlscost-" + Guid.NewGuid().ToString("N"));
        // The per-device publish rate limit (100/s, bursts of 2,000 by default) would cut the 5,000-message run short: this
        // measures what TLS costs, not the limiter.
        var unlimited = new SecurityOptions { DeviceMessagesPerSecond = 1e9, DeviceMessageBurst = 1e9 };
        using var security = new FleetSecurity(dir, "bench", unlimited, TimeProvider.System, NullLogger.Instance);
        using var device = security.IssueDeviceCertificate("dev-1");
        var tlsSettings = new MqttTlsSettings(security.Authority.Certificate, _ => device);
        await using var plain = new EmbeddedBroker(0, IPAddress.Loopback, NullLogger.Instance, tls: null);
        await using var tls = new EmbeddedBroker(0, IPAddress.Loopback, NullLogger.Instance, security.BrokerTls([]));
        await plain.StartAsync();
        await tls.StartAsync();
        var endpoints = new[] { ("plain", new MqttEndpoint("127.0.0.1", plain.Port), (MqttTlsSettings?)null), ("tls", new MqttEndpoint("127.0.0.1", tls.Port, Tls: true), tlsSettings) };

        // Warm up both paths (JIT, first handshake).
        foreach (var (_, endpoint, settings) in endpoints) await ConnectAsync(endpoint, settings, 20);
        output.WriteLine("transport  connect ms (mean of 200)  1 KB msg/s (QoS 1, 5,000)  400 KB MB/s (QoS 1, 200)");
        // Two passes in alternating order, so neither side profits from going second.
        foreach (var (name, endpoint, settings) in endpoints.Concat(endpoints.Reverse()))
        {
            var connect = await ConnectAsync(endpoint, settings, 200);
            var small = await PublishAsync(endpoint, settings, 1024, 5000);
            var large = await PublishAsync(endpoint, settings, 400 * 1024, 200);
            output.WriteLine($"{name,-9}  {connect.TotalMilliseconds / 200,24:F2}  {5000 / small.TotalSeconds,26:F0}  {200 * 0.4 / large.TotalSeconds,25:F1}");
        }

        Directory.Delete(dir, recursive: true);
    }

    private static async Task<TimeSpan> ConnectAsync(MqttEndpoint endpoint, MqttTlsSettings? tls, int count)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await using var client = new MqttTransport(new MqttTransportOptions("dev-1", endpoint) { CleanStart = true, Tls = tls });
            await client.ConnectAsync(CancellationToken.None);
            await client.DisconnectAsync();
        }

        return clock.Elapsed;
    }

    private static async Task<TimeSpan> PublishAsync(MqttEndpoint endpoint, MqttTlsSettings? tls, int size, int count)
    {
        await using var client = new MqttTransport(new MqttTransportOptions("dev-1", endpoint) { CleanStart = true, Tls = tls });
        await client.ConnectAsync(CancellationToken.None);
        var payload = new byte[size];
        Random.Shared.NextBytes(payload);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++) await client.PublishAsync("edgemlops/v1/bench/devices/dev-1/update", payload, retain: false, CancellationToken.None);
        return clock.Elapsed;
    }
}
