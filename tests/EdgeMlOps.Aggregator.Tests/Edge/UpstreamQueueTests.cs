using EdgeMlOps.Aggregator.Edge;

namespace EdgeMlOps.Aggregator.Tests.Edge;

public class UpstreamQueueTests
{
    [Fact]
    public void PastItsBound_TheOldestRelayIsDropped_AndCounted_NeverAPartial_AndOrderIsKept()
    {
        var queue = new UpstreamQueue();
        queue.EnqueuePartial("partial", [1], "r1", 5);
        for (var i = 0; i < UpstreamQueue.MaxRelays + 2; i++) queue.Enqueue($"status-{i}", [2], retain: true);

        Assert.Equal((2L, UpstreamQueue.MaxRelays + 1), (queue.Dropped, queue.Count)); // the partial and the newest relays
        Assert.True(queue.TryPeek(out var first));
        Assert.Equal(("partial", "r1", 5, false), (first.Topic, first.RoundId, first.Updates, first.Retain));
        queue.Remove(first);
        Assert.True(queue.TryPeek(out var oldest));
        Assert.Equal(("status-2", true), (oldest.Topic, oldest.Retain)); // status-0 and status-1 dropped
    }

    /// <summary>A model line's updates are relayed one by one: the relays waiting are bounded in bytes too, not only in number.</summary>
    [Fact]
    public void PastItsByteBound_TheOldestRelaysAreDropped_UntilTheNewOneFits_NeverAPartial()
    {
        var queue = new UpstreamQueue();
        var big = new byte[UpstreamQueue.MaxRelayBytes / 4];
        queue.EnqueuePartial("partial", new byte[16], "r1", 2);
        for (var i = 0; i < 4; i++) queue.Enqueue($"update-{i}", big, retain: false);
        Assert.Equal((0L, 5), (queue.Dropped, queue.Count));

        queue.Enqueue("update-4", new byte[(UpstreamQueue.MaxRelayBytes / 2) + 1], retain: false); // needs three of the four gone
        Assert.Equal((3L, 3), (queue.Dropped, queue.Count));
        Assert.True(queue.TryPeek(out var first));
        Assert.Equal("partial", first.Topic);
        queue.Remove(first);
        Assert.True(queue.TryPeek(out var next));
        Assert.Equal("update-3", next.Topic);
        queue.Remove(next);
        queue.Enqueue("status", [1], retain: true); // the bytes sent are freed: nothing more dropped
        Assert.Equal((3L, 2), (queue.Dropped, queue.Count));
    }
}
