using System.Net;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>A publish the broker does not acknowledge: cancelled, it ends as a cancellation, not a "timeout"; not cancelled, it ends at its deadline.</summary>
public sealed class MqttPublishCancellationTests
{
    [Fact]
    public async Task ABrokerThatNeverAcknowledges_FailsThePublishWithinItsDeadline_NotForGood()
    {
        var port = BrokerPorts.Free();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        var held = new TaskCompletionSource();
        server.InterceptingPublishAsync += async _ => await held.Task; // the connection stays up, no PUBACK ever comes
        await server.StartAsync();
        try
        {
            await using var channel = new MqttTransport(new MqttTransportOptions("slow-client", new MqttEndpoint("127.0.0.1", port)) { AcknowledgeTimeout = TimeSpan.FromSeconds(1) });
            await channel.ConnectAsync(CancellationToken.None);

            // A sender whose token can be cancelled (the agent's outbox, the aggregator's publishers): this waited for good.
            using var stopping = new CancellationTokenSource();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<TimeoutException>(() => channel.PublishAsync("slow/topic", new byte[2048], retain: false, stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the publish ended after {watch.Elapsed}");
            Assert.Contains("did not acknowledge slow-client's publish to slow/topic (2048 bytes) within 3 s", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            held.TrySetResult();
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task ABrokerThatNeverAcknowledgesASubscription_FailsTheConnectAttempt_AndTheNextOneSubscribes()
    {
        var port = BrokerPorts.Free();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        var held = new TaskCompletionSource();
        var subscriptions = 0;
        server.InterceptingSubscriptionAsync += async _ =>
        {
            if (Interlocked.Increment(ref subscriptions) == 1) await held.Task; // the first SUBACK never comes
        };
        await server.StartAsync();
        try
        {
            await using var channel = new MqttTransport(new MqttTransportOptions("slow-client", new MqttEndpoint("127.0.0.1", port)) { AcknowledgeTimeout = TimeSpan.FromSeconds(1) });
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
        finally
        {
            held.TrySetResult();
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task ABrokerThatNeverAcknowledgesAnUnsubscription_FailsItWithinItsDeadline()
    {
        var port = BrokerPorts.Free();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        var held = new TaskCompletionSource();
        server.InterceptingUnsubscriptionAsync += async _ => await held.Task; // no UNSUBACK (a model line stopping waited for good)
        await server.StartAsync();
        try
        {
            await using var channel = new MqttTransport(new MqttTransportOptions("slow-client", new MqttEndpoint("127.0.0.1", port)) { AcknowledgeTimeout = TimeSpan.FromSeconds(1) });
            using var stopping = new CancellationTokenSource();
            await channel.ConnectAsync(stopping.Token);
            await channel.SubscribeAsync(["fleet/lines/cnn/#"], stopping.Token);

            var watch = System.Diagnostics.Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<TimeoutException>(() => channel.UnsubscribeAsync(["fleet/lines/cnn/#"], stopping.Token).WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"the unsubscription ended after {watch.Elapsed}");
            Assert.Contains("did not acknowledge slow-client's unsubscription from fleet/lines/cnn/# within 1 s", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            held.TrySetResult();
            await server.StopAsync();
        }
    }

    [Fact]
    public async Task CancelledWhileWaitingForTheAcknowledgement_ThrowsOperationCanceled()
    {
        var port = BrokerPorts.Free();
        using var server = new MqttServerFactory().CreateMqttServer(new MqttServerOptionsBuilder()
            .WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback).WithDefaultEndpointPort(port).Build());
        var held = new TaskCompletionSource();
        server.InterceptingPublishAsync += async _ => await held.Task; // the broker sits on every publish: no PUBACK
        await server.StartAsync();
        try
        {
            await using var channel = new MqttChannelFactory(new MqttEndpoint("127.0.0.1", port)).Create(new FleetChannelOptions("slow-client"), NullLoggerFactory.Instance);
            await channel.ConnectAsync(CancellationToken.None);
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => channel.PublishAsync("slow/topic", [1, 2, 3], retain: false, cancel.Token));
        }
        finally
        {
            held.TrySetResult();
            await server.StopAsync();
        }
    }
}
