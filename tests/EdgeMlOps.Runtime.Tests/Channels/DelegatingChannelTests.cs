using System.Buffers;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>A decorator that changes nothing keeps every promise of the channel it wraps: the whole protocol suite runs through it.</summary>
public sealed class PassThroughChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new Decorating(new InMemoryFleetHub(), inner => new PassThrough(inner));
        return Task.CompletedTask;
    }

    private sealed class PassThrough(IFleetChannel inner) : DelegatingFleetChannel(inner);

    internal sealed class Decorating(IFleetChannelFactory inner, Func<IFleetChannel, IFleetChannel> wrap) : IFleetChannelFactory
    {
        public string Address => inner.Address;

        public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) => wrap(inner.Create(options, loggers));
    }
}

public class DelegatingChannelTests
{
    [Fact]
    public async Task ADecoratorThatDropsOneTopic_DeliversTheOthers_AndSeesEveryPublish()
    {
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        await using var subscriber = new Dropping(hub.Create(new FleetChannelOptions("sub"), NullLoggerFactory.Instance), "f/lost");
        var received = new List<string>();
        subscriber.MessageReceived = (topic, _) =>
        {
            lock (received) received.Add(topic);
            return Task.CompletedTask;
        };
        await subscriber.SubscribeAsync(["f/#"], CancellationToken.None);
        await subscriber.ConnectAsync(CancellationToken.None);
        await using var publisher = new Dropping(hub.Create(new FleetChannelOptions("pub"), NullLoggerFactory.Instance), "none");
        await publisher.ConnectAsync(CancellationToken.None);

        foreach (var topic in new[] { "f/kept", "f/lost", "f/kept-too" }) Assert.True(await publisher.PublishAsync(topic, [1], retain: false, CancellationToken.None));

        await Eventually.Until(() => { lock (received) return received.Count == 2; }, "the two kept messages");
        lock (received) Assert.Equal(["f/kept", "f/kept-too"], received);
        Assert.Equal(3, publisher.Published);
        Assert.True(subscriber.IsConnected);
        Assert.Equal("sub", subscriber.ClientId);
    }

    private sealed class Dropping(IFleetChannel inner, string dropped) : DelegatingFleetChannel(inner)
    {
        public int Published { get; private set; }

        public override Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
        {
            Published++;
            return base.PublishAsync(topic, payload, retain, cancellationToken);
        }

        protected override bool Delivers(string topic, ReadOnlySequence<byte> payload) => topic != dropped;
    }
}
