using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>The owner's view of a shared device connection keeps every promise of a channel: the whole protocol suite runs through it.</summary>
public sealed class SharedOwnerChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new Owners(new InMemoryFleetHub());
        return Task.CompletedTask;
    }

    private sealed class Owners(IFleetChannelFactory hub) : IFleetChannelFactory
    {
        public string Address => hub.Address;

        public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) => new SharedFleetChannel(hub).Owner.Create(options, loggers);
    }
}

/// <summary>
/// One device connection shared by the agents of its models: each view hears only what it subscribed to, every view
/// hears the connection come up, a line's view leaves the connection to its owner, and a view that goes takes with it
/// only the filters no other view wants.
/// </summary>
public sealed class SharedFleetChannelTests
{
    private static readonly ILoggerFactory Loggers = NullLoggerFactory.Instance;

    private static List<string> Record(IFleetChannel channel)
    {
        var seen = new List<string>();
        channel.MessageReceived = (topic, _) =>
        {
            lock (seen) seen.Add(topic);
            return Task.CompletedTask;
        };
        return seen;
    }

    private static int Count(List<string> seen, string topic)
    {
        lock (seen) return seen.Count(t => t == topic);
    }

    [Fact]
    public async Task EachView_HearsItsOwnFilters_OnTheOneConnection_AndTheOwnerAloneOpensAndClosesIt()
    {
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        var shared = new SharedFleetChannel(hub);
        Assert.Throws<InvalidOperationException>(() => shared.Views.Create(new FleetChannelOptions("dev-1"), Loggers)); // no connection before its owner
        await using var owner = shared.Owner.Create(new FleetChannelOptions("dev-1"), Loggers);
        Assert.Throws<InvalidOperationException>(() => shared.Owner.Create(new FleetChannelOptions("dev-1"), Loggers)); // one owner per device
        var line = shared.Views.Create(new FleetChannelOptions("ignored"), Loggers);
        Assert.Equal("dev-1", line.ClientId);
        var (ownerSaw, lineSaw) = (Record(owner), Record(line));
        var lineConnected = 0;
        line.Connected = _ =>
        {
            Interlocked.Increment(ref lineConnected);
            return Task.CompletedTask;
        };

        await owner.SubscribeAsync(["f/model", "f/shared"], CancellationToken.None);
        await line.SubscribeAsync(["f/lines/kws/#", "f/shared"], CancellationToken.None);
        await line.StartAsync(CancellationToken.None); // not connected yet: nothing happens, the connection is its owner's
        Assert.False(line.IsConnected);
        await owner.ConnectAsync(CancellationToken.None);
        Assert.True(line.IsConnected);
        Assert.Equal(1, Volatile.Read(ref lineConnected)); // the owner's connection announced to the line too

        await using var publisher = hub.Create(new FleetChannelOptions("aggregator"), Loggers);
        await publisher.ConnectAsync(CancellationToken.None);
        foreach (var topic in new[] { "f/model", "f/lines/kws/model", "f/shared", "f/other" }) await publisher.PublishAsync(topic, [1], retain: false, CancellationToken.None);
        await Eventually.Until(() => Count(lineSaw, "f/shared") == 1 && Count(ownerSaw, "f/shared") == 1, "both views hear the filter both hold");
        Assert.Equal(1, Count(ownerSaw, "f/model"));
        Assert.Equal(0, Count(ownerSaw, "f/lines/kws/model"));
        Assert.Equal(1, Count(lineSaw, "f/lines/kws/model"));
        Assert.Equal(0, Count(lineSaw, "f/model"));

        // A line's view publishes on the connection; its disconnect and abort leave the connection to the owner.
        Assert.True(await line.PublishAsync("f/lines/kws/devices/dev-1/status", [2], retain: false, CancellationToken.None));
        await line.DisconnectAsync();
        line.Abort();
        Assert.True(owner.IsConnected);

        // The line goes: its own filters go with it, the one the owner holds too stays.
        await line.DisposeAsync();
        Assert.Equal(1, shared.ViewCount);
        await publisher.PublishAsync("f/lines/kws/model", [1], retain: false, CancellationToken.None);
        await publisher.PublishAsync("f/shared", [1], retain: false, CancellationToken.None);
        await Eventually.Until(() => Count(ownerSaw, "f/shared") == 2, "the owner still subscribed to the shared filter");
        Assert.Equal(1, Count(lineSaw, "f/lines/kws/model"));

        // A view joining a connection that is up hears it at once, as its agent announces itself then.
        var late = shared.Views.Create(new FleetChannelOptions("dev-1"), Loggers);
        var heard = false;
        late.Connected = _ =>
        {
            heard = true;
            return Task.CompletedTask;
        };
        await late.StartAsync(CancellationToken.None);
        Assert.True(heard);
        await late.DisposeAsync();
    }

    [Fact]
    public async Task AViewWhoseHandlerFails_DoesNotKeepTheMessageFromTheOthers()
    {
        var hub = new InMemoryFleetHub();
        var shared = new SharedFleetChannel(hub);
        await using var owner = shared.Owner.Create(new FleetChannelOptions("dev-1"), Loggers);
        owner.MessageReceived = (_, _) => throw new InvalidOperationException("the first model's handler failed");
        await using var line = shared.Views.Create(new FleetChannelOptions("dev-1"), Loggers);
        var lineSaw = Record(line);
        await owner.SubscribeAsync(["f/shared"], CancellationToken.None);
        await line.SubscribeAsync(["f/shared"], CancellationToken.None);
        await owner.ConnectAsync(CancellationToken.None);
        await using var publisher = hub.Create(new FleetChannelOptions("aggregator"), Loggers);
        await publisher.ConnectAsync(CancellationToken.None);
        await publisher.PublishAsync("f/shared", [1], retain: false, CancellationToken.None);
        await Eventually.Until(() => Count(lineSaw, "f/shared") == 1, "the line's view still hears it");
    }
}
