using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>
/// The monitor held the reference of every version the registry keeps (100 by default): 1 MB each for a model of 784
/// inputs, 103 MB, all read at every start. Drift tests need only the references of the versions devices serve and of
/// the head (from which the next version inherits): the others wait in the registry and are read when asked for.
/// </summary>
public sealed class ReferenceMemoryTests
{
    private static WindowProfile Profile(double centre, int rows, int seed)
    {
        var random = new Random(seed);
        var profile = new WindowProfile(2, 2);
        for (var i = 0; i < rows; i++) profile.AddInputs([(float)(centre + random.NextDouble()), (float)(centre + random.NextDouble())]);
        return profile;
    }

    [Fact]
    public void OnlyTheReferencesDriftTestsNeedStayInMemory_TheOthersAreReadBackWhenAskedFor()
    {
        var stored = new Dictionary<ulong, WindowProfile>();
        var reads = new List<ulong>();
        var outOfReach = false;
        var monitor = new FleetMonitor(new MonitoringOptions(), features: 2, classes: 2)
        {
            ReferenceSource = version =>
            {
                reads.Add(version);
                return outOfReach ? null : stored.GetValueOrDefault(version);
            },
        };

        // Ten versions, each trained on data around its own number (what the registry keeps as it promotes them).
        for (ulong version = 2; version <= 11; version++)
        {
            monitor.AddTraining(Profile(version, 400, (int)version));
            stored[version] = monitor.PromoteReference(version, version - 1)!;
            monitor.Unload();
        }

        Assert.Equal(2, monitor.HeldReferences); // the head and its parent
        Assert.Empty(reads);

        // Devices still serving v4 report a window: its reference is read back once, and judges it.
        monitor.Add(4, null, 1, Profile(4, 400, 40));
        monitor.Add(4, null, 2, Profile(9, 400, 41));
        var steady = monitor.Evaluate(1).Single();
        Assert.Equal(("fleet", false), (steady.Reference, steady.DatasetDrift));
        Assert.True(monitor.Evaluate(2).Single().DatasetDrift);
        Assert.Equal([4UL], reads);

        // A version with a window held stays in memory at the next version; the others go again.
        monitor.AddTraining(Profile(12, 400, 12));
        stored[12] = monitor.PromoteReference(12, 11)!;
        monitor.Unload();
        Assert.Equal(3, monitor.HeldReferences); // v4 (its windows), v11, v12
        Assert.Same(stored[7], monitor.Reference(7)); // a card or a candidate's validation reads any
        Assert.Equal([4UL, 7UL], reads);

        // The registry out of reach: no reference now, and the version still waits to be read when it is back.
        outOfReach = true;
        Assert.Null(monitor.Reference(6));
        outOfReach = false;
        Assert.Same(stored[6], monitor.Reference(6));
        Assert.Equal([4UL, 7UL, 6UL, 6UL], reads);

        // A pruned version is gone everywhere: not read back.
        monitor.Forget([7UL, 8UL]);
        Assert.Null(monitor.Reference(8));
        Assert.Equal([4UL, 7UL, 6UL, 6UL], reads);
    }
}
