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
}
