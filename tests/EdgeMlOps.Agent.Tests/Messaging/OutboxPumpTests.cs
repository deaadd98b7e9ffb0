using System.Buffers;
using EdgeMlOps.Agent.Messaging;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Messaging;

/// <summary>The store-and-forward pump alone, over the in-memory channel.</summary>
public sealed class OutboxPumpTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgemlops-pump-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task MessagesQueuedWhileDisconnected_AreSentInOrderOnceConnected_AndLeaveTheOutbox()
    {
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        var received = new List<string>();
        await using var listener = hub.Create(new FleetChannelOptions("aggregator"), NullLoggerFactory.Instance);
        listener.MessageReceived = (topic, payload) =>
        {
            lock (received) received.Add(System.Text.Encoding.UTF8.GetString(payload.ToArray()));
            return Task.CompletedTask;
        };
        await listener.SubscribeAsync(["fleet/+/update"], CancellationToken.None);
        await listener.ConnectAsync(CancellationToken.None);

        await using var device = hub.Create(new FleetChannelOptions("dev-1"), NullLoggerFactory.Instance);
        using var outbox = new Outbox(Path.Combine(_dir, "outbox.db"), capacity: 100);
        var counters = new AgentCounters();
        var pump = new OutboxPump(device, outbox, new StorageHealth(), counters, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = pump.RunAsync(stop.Token);

        pump.Send("fleet/dev-1/update", "first"u8.ToArray());
        pump.Send("fleet/dev-1/update", "second"u8.ToArray());
        await Task.Delay(200);
        Assert.Empty(received); // offline: kept
        Assert.Equal(2, outbox.Count);

        await device.ConnectAsync(CancellationToken.None);
        pump.Wake();
        await Eventually.Until(() => outbox.Count == 0 && Interlocked.Read(ref counters.OutboxSent) == 2, "the queued messages to be sent");

        Assert.Equal(["first", "second"], received);
        Assert.Equal(0, outbox.Count);
        Assert.Equal(2, Interlocked.Read(ref counters.OutboxSent));
        stop.Cancel();
        await running;
    }

    [Fact]
    public async Task AMessageNoSessionTook_StaysQueued_AndGoesOnceTheAggregatorListensAgain()
    {
        // A broker that restarted empty: the device is back before the aggregator has subscribed again.
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        await using var device = hub.Create(new FleetChannelOptions("dev-1"), NullLoggerFactory.Instance);
        await device.ConnectAsync(CancellationToken.None);
        using var outbox = new Outbox(Path.Combine(_dir, "outbox.db"), capacity: 100);
        var counters = new AgentCounters();
        var pump = new OutboxPump(device, outbox, new StorageHealth(), counters, TimeProvider.System, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = pump.RunAsync(stop.Token);

        pump.Send("fleet/dev-1/update", "delta"u8.ToArray());
        await Eventually.Until(() => Interlocked.Read(ref counters.OutboxUnheard) >= 1, "the broker to say nobody took the update");
        Assert.Equal(1, outbox.Count); // not acknowledged: nobody heard it
        Assert.Equal(0, Interlocked.Read(ref counters.OutboxSent));

        var received = 0;
        await using var aggregator = hub.Create(new FleetChannelOptions("aggregator"), NullLoggerFactory.Instance);
        aggregator.MessageReceived = (_, _) =>
        {
            Interlocked.Increment(ref received);
            return Task.CompletedTask;
        };
        await aggregator.SubscribeAsync(["fleet/+/update"], CancellationToken.None);
        await aggregator.ConnectAsync(CancellationToken.None);
        pump.Wake(); // what the aggregator's announcement does on the device
        // The pump removes the message, then counts it as sent: wait for both (CI once read the count in between).
        await Eventually.Until(() => outbox.Count == 0 && Interlocked.Read(ref counters.OutboxSent) == 1, "the update to be sent again");

        Assert.Equal(0, outbox.Count);
        Assert.Equal(1, Volatile.Read(ref received));
        Assert.Equal(1, Interlocked.Read(ref counters.OutboxSent));
        stop.Cancel();
        await running;
    }
}
