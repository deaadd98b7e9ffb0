using EdgeMlOps.Agent.Storage;

namespace EdgeMlOps.Agent.Tests.Storage;

public class OutboxTests
{
    private static string TempDb() => Path.Combine(Path.GetTempPath(), "edgemlops-outbox-" + Guid.NewGuid().ToString("N"), "outbox.db");

    [Fact]
    public void Messages_DrainInOrder_AndLeaveOnlyWhenAcknowledged()
    {
        using var outbox = new Outbox(TempDb(), capacity: 10);
        outbox.Enqueue("t/a", [1]);
        outbox.Enqueue("t/b", [2]);
        outbox.Enqueue("t/c", [3]);
        var first = outbox.Peek(2);
        Assert.Equal(["t/a", "t/b"], first.Select(m => m.Topic));
        outbox.Acknowledge(first[0].Id);
        Assert.Equal(["t/b", "t/c"], outbox.Peek(10).Select(m => m.Topic));
        Assert.Equal(2, outbox.Count);
    }

    [Fact]
    public void Full_DropsOldestFirst_CountsDrops_AcrossRestarts()
    {
        var path = TempDb();
        using (var outbox = new Outbox(path, capacity: 3))
        {
            for (byte i = 0; i < 5; i++) outbox.Enqueue($"t/{i}", [i]);
            Assert.Equal(["t/2", "t/3", "t/4"], outbox.Peek(10).Select(m => m.Topic));
            Assert.Equal(2, outbox.Dropped);
        }

        using var reopened = new Outbox(path, capacity: 3);
        Assert.Equal((2, 3), (reopened.Dropped, reopened.Count)); // what waited is counted again when the store opens
        Assert.Equal(new byte[] { 4 }, reopened.Peek(10)[^1].Payload);
        reopened.Clear();
        Assert.Equal(0, reopened.Count);
    }

    [Fact]
    public void TheCountKeptInMemory_FollowsTheTable_ThroughAcknowledgementsTwiceEvictionsAndReopening()
    {
        var path = TempDb();
        using (var outbox = new Outbox(path, capacity: 2))
        {
            outbox.Enqueue("t/a", [1]);
            var a = Assert.Single(outbox.Peek(10));
            outbox.Acknowledge(a.Id);
            outbox.Acknowledge(a.Id); // acknowledged twice (a redelivered ack): nothing more to forget
            Assert.Equal(0, outbox.Count);
            Assert.Empty(outbox.Peek(10));

            for (byte i = 0; i < 3; i++) outbox.Enqueue($"t/{i}", [i]); // one evicted
            Assert.Equal(2, outbox.Count);
            Assert.Equal(["t/1", "t/2"], outbox.Peek(10).Select(m => m.Topic));
        }

        using var reopened = new Outbox(path, capacity: 2);
        Assert.Equal(2, reopened.Count);
        foreach (var m in reopened.Peek(10)) reopened.Acknowledge(m.Id);
        Assert.Empty(reopened.Peek(10));
        reopened.Enqueue("t/new", [9]);
        Assert.Equal(["t/new"], reopened.Peek(10).Select(m => m.Topic));
    }
}
