using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>
/// A broker that takes the connection and never answers — a hung process, a middlebox, a captive portal — costs one
/// connect attempt of <see cref="MqttTransportOptions.ConnectTimeout"/>, never a client stuck for good.
/// </summary>
public sealed class MqttConnectTimeoutTests
{
    [Theory]
    [InlineData(true)] // the TLS handshake is never answered
    [InlineData(false)] // CONNECT is never acknowledged
    public async Task ABrokerThatNeverAnswers_FailsTheAttemptWithinTheConnectTimeout(bool tls)
    {
        await using var silent = SilentListener.Start();
        await using var transport = new MqttTransport(Options(silent.Port, tls));

        // A caller whose token can be cancelled, as the agent's start and the reconnect loop: MQTTnet's own timeout did not
        // bound the TLS handshake then, and the attempt hung for good. Three in a row, as the reconnect loop makes them.
        using var stopping = new CancellationTokenSource();
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var watch = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<TimeoutException>(() => transport.ConnectAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(6), $"attempt {attempt} ended after {watch.Elapsed}");
            Assert.Contains("did not answer silent-client's connection within 1 s", ex.Message, StringComparison.Ordinal);
            Assert.False(transport.IsConnected);
        }
    }

    [Fact]
    public async Task TheCallersOwnCancellation_StaysACancellation()
    {
        await using var silent = SilentListener.Start();
        await using var transport = new MqttTransport(Options(silent.Port, tls: true) with { ConnectTimeout = TimeSpan.FromSeconds(30) });
        using var stopping = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => transport.ConnectAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task StartAgainstABrokerThatNeverAnswers_ReturnsAndKeepsTryingInTheBackground()
    {
        await using var silent = SilentListener.Start();
        await using var transport = new MqttTransport(Options(silent.Port, tls: true) with { MinReconnectDelay = TimeSpan.FromMilliseconds(50), MaxReconnectDelay = TimeSpan.FromMilliseconds(200) });

        using var stopping = new CancellationTokenSource();
        var watch = Stopwatch.StartNew();
        await transport.StartAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(6), $"start returned after {watch.Elapsed}");

        // A hung attempt no longer holds the reconnect loop: it gives up at its timeout and tries a new connection.
        var until = DateTime.UtcNow.AddSeconds(20);
        while (silent.Accepted < 3 && DateTime.UtcNow < until) await Task.Delay(100);
        Assert.True(silent.Accepted >= 3, $"{silent.Accepted} connections in {watch.Elapsed}");
    }

    private static MqttTransportOptions Options(int port, bool tls) =>
        new("silent-client", new MqttEndpoint("127.0.0.1", port, tls))
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            Tls = tls ? new MqttTlsSettings(Certificate.Value, _ => Certificate.Value) : null,
        };

    private static readonly Lazy<X509Certificate2> Certificate = new(() =>
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=silent-client", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    });
}
