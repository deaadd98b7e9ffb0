using System.Net;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>
/// A broker that keeps the connection and does not acknowledge: a publish, a subscription or an unsubscription ends at
/// its deadline, not for good; cancelled by its caller, it ends as a cancellation, not a "timeout".
/// </summary>
public sealed class MqttPublishCancellationTests
{
    [Fact]
    public async Task ABrokerThatNeverAcknowledges_FailsThePublishWithinItsDeadline_NotForGood()
    {
        await using var broker = await StallingBroker.StartAsync(b => b.Server.InterceptingPublishAsync += _ => b.Stall()); // no PUBACK ever comes
        await using var channel = broker.Client();
        await channel.ConnectAsync(CancellationToken.None);

        // A sender whose token can be cancelled (the agent's outbox, the aggregator's publishers): this waited for good.
        using var stopping = new CancellationTokenSource();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => channel.PublishAsync("slow/topic", new byte[2048], retain: false, stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the publish ended after {watch.Elapsed}");
        Assert.Contains("did not acknowledge slow-client's publish to slow/topic (2048 bytes) within 3 s", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABrokerThatNeverAcknowledgesASubscription_FailsTheConnectAttempt_AndTheNextOneSubscribes()
    {
        var subscriptions = 0;
        await using var broker = await StallingBroker.StartAsync(b => b.Server.InterceptingSubscriptionAsync += _ =>
            Interlocked.Increment(ref subscriptions) == 1 ? b.Stall() : Task.CompletedTask); // the first SUBACK never comes
        await using var channel = broker.Client();
        using var stopping = new CancellationTokenSource();
        await channel.SubscribeAsync(["fleet/#"], stopping.Token); // kept for the connection

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => channel.ConnectAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the attempt ended after {watch.Elapsed}");
        Assert.Contains("did not acknowledge slow-client's subscription to fleet/#", ex.Message, StringComparison.Ordinal);
        Assert.False(channel.IsConnected); // not left connected without its subscriptions

        await channel.ConnectAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(channel.IsConnected);
        Assert.Equal(2, Volatile.Read(ref subscriptions));
    }

    [Fact]
    public async Task ABrokerThatNeverAcknowledgesAnUnsubscription_FailsItWithinItsDeadline()
    {
        // No UNSUBACK: a model line stopping waited for good.
        await using var broker = await StallingBroker.StartAsync(b => b.Server.InterceptingUnsubscriptionAsync += _ => b.Stall());
        await using var channel = broker.Client();
        using var stopping = new CancellationTokenSource();
        await channel.ConnectAsync(stopping.Token);
        await channel.SubscribeAsync(["fleet/lines/cnn/#"], stopping.Token);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => channel.UnsubscribeAsync(["fleet/lines/cnn/#"], stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the unsubscription ended after {watch.Elapsed}");
        Assert.Contains("did not acknowledge slow-client's unsubscription from fleet/lines/cnn/# within 1 s", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancelledWhileWaitingForTheAcknowledgement_ThrowsOperationCanceled()
    {
        await using var broker = await StallingBroker.StartAsync(b => b.Server.InterceptingPublishAsync += _ => b.Stall()); // no PUBACK
        await using var channel = new MqttChannelFactory(new MqttEndpoint("127.0.0.1", broker.Port)).Create(new FleetChannelOptions("slow-client"), NullLoggerFactory.Instance);
        await channel.ConnectAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => channel.PublishAsync("slow/topic", [1, 2, 3], retain: false, cancel.Token));
    }

    /// <summary>MQTTnet's broker on a loopback port whose intercepts may sit on a packet until the test ends.</summary>
    private sealed class StallingBroker : IAsyncDisposable
    {
        private readonly TaskCompletionSource _held = new();

        private StallingBroker(int port)
        {
            Port = port;
            Server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
                .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        }

        public MqttServer Server { get; }

        public int Port { get; }

        /// <summary>Started with <paramref name="intercept"/> attached (an intercept that awaits <see cref="Stall"/> never acknowledges).</summary>
        public static async Task<StallingBroker> StartAsync(Action<StallingBroker> intercept)
        {
            var broker = new StallingBroker(BrokerPorts.Free());
            intercept(broker);
            await broker.Server.StartAsync();
            return broker;
        }

        /// <summary>What an intercept awaits to hold its packet until the broker is disposed.</summary>
        public Task Stall() => _held.Task;

        /// <summary>A client that waits a second (plus a second per KiB) for an acknowledgement.</summary>
        public MqttTransport Client() =>
            new(new MqttTransportOptions("slow-client", new MqttEndpoint("127.0.0.1", Port)) { AcknowledgeTimeout = TimeSpan.FromSeconds(1) });

        public async ValueTask DisposeAsync()
        {
            _held.TrySetResult();
            await Server.StopAsync();
            Server.Dispose();
        }
    }
}
