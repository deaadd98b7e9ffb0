using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Runtime.Tests.Channels;

public sealed class InMemoryQueuedChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new InMemoryFleetHub();
        return Task.CompletedTask;
    }
}

public sealed class InMemoryInlineChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        return Task.CompletedTask;
    }
}

public class InMemoryChannelTests
{
    [Fact]
    public async Task AHandlerThatDisconnectsItsOwnChannel_DoesNotDeadlock()
    {
        var hub = new InMemoryFleetHub();
        var channel = hub.Create(new FleetChannelOptions("self"), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        var done = new TaskCompletionSource();
        channel.MessageReceived = async (_, _) =>
        {
            await channel.DisconnectAsync();
            done.TrySetResult();
        };
        await channel.SubscribeAsync(["t"], CancellationToken.None);
        await channel.ConnectAsync(CancellationToken.None);
        await channel.PublishAsync("t", [1], retain: false, CancellationToken.None);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(channel.IsConnected);
    }
}
