using EdgeMlOps.Agent.Training;

namespace EdgeMlOps.Agent.Tests.Training;

public class RecentRoundsTests
{
    [Fact]
    public void ARoundDeliveredTwice_IsWorkedOnOnce()
    {
        var rounds = new RecentRounds();
        Assert.True(rounds.Add("mnist-r1-a1"));
        Assert.False(rounds.Add("mnist-r1-a1"));
        Assert.True(rounds.Add("mnist-r1-a2")); // a re-run round has a new attempt id
    }

    [Fact]
    public void MemoryIsBounded_TheOldestIdIsForgottenFirst()
    {
        var rounds = new RecentRounds(capacity: 3);
        foreach (var id in new[] { "a", "b", "c", "d" }) Assert.True(rounds.Add(id));
        Assert.True(rounds.Add("a")); // forgotten when "d" came
        Assert.False(rounds.Add("d"));
    }
}
