using System.Net;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>A publish cancelled while the broker has not acknowledged it ends as a cancellation, not a "timeout".</summary>
public sealed class MqttPublishCancellationTests
{
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
