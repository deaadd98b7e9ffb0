using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>
/// The protocol behaviour the agent and aggregator rely on, run against every channel: the in-memory
/// hub, MQTTnet's broker (the aggregator's embedded one) and Mosquitto (the external one).
/// </summary>
public abstract class FleetChannelContract : IAsyncLifetime
{
    private readonly List<IFleetChannel> _opened = new();

    protected IFleetChannelFactory Broker { get; set; } = null!;

    public abstract Task InitializeAsync();

    public virtual async Task DisposeAsync()
    {
        foreach (var channel in _opened) await channel.DisposeAsync();
    }

    private async Task<(IFleetChannel Channel, Inbox Inbox)> OpenAsync(string clientId, string[] filters, bool cleanStart = true, LastWill? will = null, bool connect = true, uint expirySeconds = FleetChannelOptions.DefaultSessionExpirySeconds)
    {
        var inbox = new Inbox();
        var channel = Broker.Create(new FleetChannelOptions(clientId) { CleanStart = cleanStart, Will = will, SessionExpirySeconds = expirySeconds }, NullLoggerFactory.Instance);
        channel.MessageReceived = inbox.Add;
        channel.Connected = present =>
        {
            inbox.SessionPresent = present;
            return Task.CompletedTask;
        };
        _opened.Add(channel);
        if (filters.Length > 0) await channel.SubscribeAsync(filters, CancellationToken.None);
        if (connect) await channel.ConnectAsync(CancellationToken.None);
        return (channel, inbox);
    }

    private static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>False for a broker without MQTT 5 shared subscriptions (MQTTnet's server): it must refuse them, not ignore the group.</summary>
    protected virtual bool SharedSubscriptions => true;

    [Fact]
    public async Task ASharedSubscription_GivesEachMessageToOneMemberOfTheGroup_AndTheRestWhenOneLeaves()
    {
        if (!SharedSubscriptions)
        {
            await Assert.ThrowsAnyAsync<Exception>(() => OpenAsync("c-refused", ["$share/aggregators/f/devices/+/update"]));
            return;
        }

        // Sessions that end with their connection (as a replica's do): a member that leaves takes no more messages.
        var (first, a) = await OpenAsync("c-share-a", ["$share/aggregators/f/devices/+/update"], expirySeconds: 0);
        var (_, b) = await OpenAsync("c-share-b", ["$share/aggregators/f/devices/+/update"], expirySeconds: 0);
        var (_, everyone) = await OpenAsync("c-all", ["f/devices/+/update"]);
        var (publisher, _) = await OpenAsync("c-share-pub", []);
        for (var i = 0; i < 20; i++) await publisher.PublishAsync($"f/devices/d{i}/update", Text($"u{i}"), retain: false, CancellationToken.None);

        await Eventually.Until(() => everyone.Count == 20 && a.Count + b.Count == 20, "20 messages to the plain subscriber, 20 shared out");
        Assert.True(a.Count > 0 && b.Count > 0, $"both members take a share: {a.Count} and {b.Count}");
        Assert.Empty(a.Items.Intersect(b.Items)); // each message to one member only
        Assert.Contains("f/devices/d3/update=u3", a.Items.Concat(b.Items));

        await first.DisposeAsync();
        await Task.Delay(500); // the broker handles the goodbye on its own socket: what it routes before that goes to the leaving member
        var before = (a.Count, b.Count);
        for (var i = 0; i < 10; i++) await publisher.PublishAsync($"f/devices/e{i}/update", Text($"v{i}"), retain: false, CancellationToken.None);
        await Eventually.Until(() => b.Count == before.Item2 + 10, "the remaining member takes every later message");
        Assert.Equal(before.Item1, a.Count);
    }

    [Fact]
    public async Task Unsubscribe_StopsAFilterThatAnEarlierConnectionLeftInTheSession()
    {
        var (earlier, _) = await OpenAsync("c-unsub", ["u/+"], cleanStart: false);
        await earlier.DisposeAsync();
        var (resumed, inbox) = await OpenAsync("c-unsub", [], cleanStart: false); // asks for nothing: the session still has u/+
        var (publisher, _) = await OpenAsync("c-unsub-pub", []);
        await publisher.PublishAsync("u/1", Text("kept"), retain: false, CancellationToken.None);
        await Eventually.Until(() => inbox.Count == 1, "the resumed session's filter");

        await resumed.UnsubscribeAsync(["u/+"], CancellationToken.None);
        await publisher.PublishAsync("u/2", Text("gone"), retain: false, CancellationToken.None);
        await Task.Delay(300);
        Assert.Equal(["u/1=kept"], inbox.Items);
    }

    [Fact]
    public async Task Publish_ReachesExactlyTheMatchingFilters()
    {
        var (_, exact) = await OpenAsync("c-exact", ["f/devices/d1/task"]);
        var (_, plus) = await OpenAsync("c-plus", ["f/devices/+/status"]);
        var (hashChannel, hash) = await OpenAsync("c-hash", ["f/#"]);
        var (publisher, _) = await OpenAsync("c-pub", []);

        await publisher.PublishAsync("f/devices/d1/task", Text("t1"), retain: false, CancellationToken.None);
        await publisher.PublishAsync("f/devices/d2/status", Text("s2"), retain: false, CancellationToken.None);
        await publisher.PublishAsync("g/devices/d2/status", Text("other fleet"), retain: false, CancellationToken.None);

        await Eventually.Until(() => hash.Count == 2, "the '#' subscriber's two messages");
        await Eventually.Until(() => exact.Count == 1 && plus.Count == 1, "one message each");
        await Task.Delay(100); // nothing else is on its way
        Assert.Equal(["f/devices/d1/task=t1"], exact.Items);
        Assert.Equal(["f/devices/d2/status=s2"], plus.Items);
        Assert.Equal(["f/devices/d1/task=t1", "f/devices/d2/status=s2"], hash.Items);
        Assert.Equal(2 + 2 + 11, publisher.BytesSent);
        Assert.Equal(4, hashChannel.BytesReceived);
    }

    [Fact]
    public async Task Retained_IsDeliveredToLateSubscribers_AndAnEmptyPayloadClearsIt()
    {
        var (publisher, _) = await OpenAsync("r-pub", []);
        await publisher.PublishAsync("r/model", Text("v1"), retain: true, CancellationToken.None);
        await publisher.PublishAsync("r/model", Text("v2"), retain: true, CancellationToken.None);
        await publisher.PublishAsync("r/rollout", Text("plan"), retain: true, CancellationToken.None);

        var (_, late) = await OpenAsync("r-late", ["r/model"]);
        await Eventually.Until(() => late.Count == 1, "the retained model");
        Assert.Equal(["r/model=v2"], late.Items);

        await publisher.PublishAsync("r/rollout", [], retain: true, CancellationToken.None);
        var (_, later) = await OpenAsync("r-later", ["r/+"]);
        await Eventually.Until(() => later.Count == 1, "the one retained message left");
        await Task.Delay(100);
        Assert.Equal(["r/model=v2"], later.Items);
    }

    [Fact]
    public async Task LastWill_IsPublishedWhenTheConnectionIsLost_NotOnAGoodbye()
    {
        var (_, watcher) = await OpenAsync("w-watch", ["w/+/status"]);
        var (polite, _) = await OpenAsync("w-polite", [], will: new LastWill("w/polite/status", Text("lost"), Retain: false));
        var (crashing, _) = await OpenAsync("w-crash", [], will: new LastWill("w/crash/status", Text("lost"), Retain: true));

        await polite.DisconnectAsync();
        crashing.Abort();

        await Eventually.Until(() => watcher.Count >= 1, "the crashed client's will");
        await Task.Delay(300);
        Assert.Equal(["w/crash/status=lost"], watcher.Items);
        Assert.False(crashing.IsConnected);
        var (_, late) = await OpenAsync("w-late", ["w/crash/status"]);
        await Eventually.Until(() => late.Count == 1, "the retained will");
    }

    [Fact]
    public async Task EachSubscriber_GetsMessagesInPublishOrder()
    {
        var (_, a) = await OpenAsync("o-a", ["o/x"]);
        var (_, b) = await OpenAsync("o-b", ["o/#"]);
        var (publisher, _) = await OpenAsync("o-pub", []);
        for (var i = 0; i < 200; i++) await publisher.PublishAsync("o/x", Text(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), retain: false, CancellationToken.None);

        await Eventually.Until(() => a.Count == 200 && b.Count == 200, "200 messages each");
        var expected = Enumerable.Range(0, 200).Select(i => $"o/x={i}").ToArray();
        Assert.Equal(expected, a.Items);
        Assert.Equal(expected, b.Items);
    }

    [Fact]
    public async Task PersistentSession_KeepsMessagesWhileAway_AndResumesWithItsSubscriptions()
    {
        var (device, first) = await OpenAsync("p-dev", ["p/devices/p-dev/task"], cleanStart: false);
        Assert.False(first.SessionPresent);
        await device.DisconnectAsync();
        var (publisher, _) = await OpenAsync("p-pub", []);
        await publisher.PublishAsync("p/devices/p-dev/task", Text("while away"), retain: false, CancellationToken.None);

        // A new process with the same client id and no subscriptions of its own yet.
        var (_, resumed) = await OpenAsync("p-dev", [], cleanStart: false);
        await Eventually.Until(() => resumed.Count == 1, "the task queued while away");
        Assert.True(resumed.SessionPresent);
        Assert.Equal(["p/devices/p-dev/task=while away"], resumed.Items);
        await publisher.PublishAsync("p/devices/p-dev/task", Text("after"), retain: false, CancellationToken.None);
        await Eventually.Until(() => resumed.Count == 2, "the session's subscription still delivers");
    }

    [Fact]
    public async Task CleanStart_DiscardsTheOldSession()
    {
        var (device, _) = await OpenAsync("cs-dev", ["cs/t"], cleanStart: false);
        await device.DisconnectAsync();
        var (publisher, _) = await OpenAsync("cs-pub", []);
        await publisher.PublishAsync("cs/t", Text("stale"), retain: false, CancellationToken.None);

        var (_, fresh) = await OpenAsync("cs-dev", [], cleanStart: true);
        await Task.Delay(300);
        Assert.False(fresh.SessionPresent);
        Assert.Equal(0, fresh.Count);
    }

    [Fact]
    public async Task Publish_SaysWhetherAnySessionTookTheMessage()
    {
        var (publisher, _) = await OpenAsync("c-nobody", []);
        Assert.False(await publisher.PublishAsync("f/devices/d9/update", Text("lost?"), retain: false, CancellationToken.None));

        var (_, inbox) = await OpenAsync("c-somebody", ["f/devices/+/update"]);
        Assert.True(await publisher.PublishAsync("f/devices/d9/update", Text("taken"), retain: false, CancellationToken.None));
        await Eventually.Until(() => inbox.Count == 1, "the subscriber's message");

        // A persistent session away from the broker still takes the message (it is queued for it).
        var (away, _) = await OpenAsync("c-away", ["f/devices/+/eval"], cleanStart: false);
        await away.DisconnectAsync();
        Assert.True(await publisher.PublishAsync("f/devices/d9/eval", Text("queued"), retain: false, CancellationToken.None));
    }

    [Fact]
    public async Task Publish_WhileNotConnected_Fails()
    {
        var (channel, _) = await OpenAsync("n-dev", [], connect: false);
        Assert.False(channel.IsConnected);
        await Assert.ThrowsAnyAsync<Exception>(() => channel.PublishAsync("n/t", Text("x"), retain: false, CancellationToken.None));
    }

    /// <summary>What one client received, in order.</summary>
    private sealed class Inbox
    {
        private readonly ConcurrentQueue<string> _items = new();

        public volatile bool SessionPresent;

        public int Count => _items.Count;

        public string[] Items => _items.ToArray();

        public Task Add(string topic, ReadOnlySequence<byte> payload)
        {
            _items.Enqueue(topic + "=" + Encoding.UTF8.GetString(payload.ToArray()));
            return Task.CompletedTask;
        }
    }
}
