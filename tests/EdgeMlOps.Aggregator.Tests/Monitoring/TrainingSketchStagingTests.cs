using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>
/// A version's reference is the training sketches of the updates its round counted — kept before the update is offered
/// (the round may count it and commit at once; the sketch added after the offer once came too late and ended in the
/// next version's reference, or in none), taken at the commit for exactly the round's contributors.
/// </summary>
public sealed class TrainingSketchStagingTests
{
    private static WindowProfile Rows(int rows)
    {
        var profile = new WindowProfile(2, 2);
        for (var i = 0; i < rows; i++) profile.AddInputs([i, -i]);
        return profile;
    }

    [Fact]
    public void TheReference_HoldsTheSketchesOfTheRoundsContributors_AndNoOthers()
    {
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 2);
        monitor.StageTraining("a", "r2", Rows(100), null);
        monitor.StageTraining("b", "r2", Rows(30), null);
        monitor.StageTraining("late", "r1", Rows(7), null); // an update of an earlier round, refused as closed
        monitor.StageTraining("refused", "r2", Rows(5), null); // its update was refused (not a contributor)
        monitor.StageTraining("quiet", "r2", Rows(9), null);
        monitor.StageTraining("quiet", "r2", null, null); // its latest update carried no sketch: the older one is not its

        monitor.AdoptTraining(["a", "b", "late", "quiet"], "r2");
        Assert.Equal(130, monitor.PromoteReference(2, 1)!.Features[0].Count);

        // The next round's contributor "refused" sends no sketch: its stale one never joins a reference.
        monitor.AdoptTraining(["refused"], "r3");
        Assert.Equal(130, monitor.PromoteReference(3, 2)!.Features[0].Count); // v2's, inherited: r3 gathered none

        // A new round forgets what earlier rounds left kept (refused updates, devices gone): nothing of it is adopted.
        monitor.StageTraining("gone", "r4", Rows(13), null);
        monitor.DiscardTraining();
        monitor.AdoptTraining(["gone"], roundId: null);
        Assert.Equal(130, monitor.PromoteReference(4, 3)!.Features[0].Count); // inherited again: "gone"'s 13 rows forgotten

        // A FedBuff buffer takes its contributors' sketches whatever task they answered.
        monitor.StageTraining("c", "task-9", Rows(11), null);
        monitor.AdoptTraining(["c"], roundId: null);
        Assert.Equal(11, monitor.PromoteReference(5, 4)!.Features[0].Count);
    }
}
