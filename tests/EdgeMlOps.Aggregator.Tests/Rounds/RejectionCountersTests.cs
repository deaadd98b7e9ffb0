using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>
/// The counters a round reads while devices' messages are refused on other threads. Sorting the live dictionary went
/// through its <c>ICollection.CopyTo</c>, which throws when a reason is counted for the first time between its count and
/// its copy: CI saw the round coordinator throw in the middle of a round of hostile messages
/// (<c>MutatedMessagesTests</c>), the round lost.
/// </summary>
public class RejectionCountersTests
{
    [Fact]
    public async Task ASnapshot_TakenWhileNewReasonsAreCounted_NeverThrows()
    {
        var reasons = Enum.GetValues<RejectionReason>();
        for (var attempt = 0; attempt < 2_000; attempt++)
        {
            var counters = new RejectionCounters();
            using var start = new Barrier(2);
            var counting = Task.Run(() =>
            {
                start.SignalAndWait();
                foreach (var reason in reasons) counters.Add(reason);
            });
            start.SignalAndWait();
            while (!counting.IsCompleted) _ = counters.Snapshot();
            await counting;
            Assert.Equal(reasons.Length, counters.Snapshot().Count);
        }
    }
}
