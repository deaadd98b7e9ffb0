namespace EdgeMlOps.Simulator.Tests;

/// <summary>A run's work directory is removed whole — its many device directories four at a time — and a missing one is no error.</summary>
public class WorkDirectoryTests
{
    [Fact]
    public void TheDeviceDirectoriesAndEverythingElse_AreRemoved()
    {
        var work = Path.Combine(Path.GetTempPath(), "edgemlops-sim-test-" + Guid.NewGuid().ToString("N"));
        for (var i = 0; i < 64; i++)
        {
            var versions = Directory.CreateDirectory(Path.Combine(work, "devices", $"dev-{i:D5}", "models", "versions")).FullName;
            File.WriteAllBytes(Path.Combine(versions, "1.pb"), new byte[4096]);
            File.WriteAllText(Path.Combine(work, "devices", $"dev-{i:D5}", "models", "state"), "x");
        }

        Directory.CreateDirectory(Path.Combine(work, "aggregator", "keys"));
        File.WriteAllText(Path.Combine(work, "aggregator", "registry.db"), "x");

        SimulationRunner.TryDelete(work);

        Assert.False(Directory.Exists(work));
        SimulationRunner.TryDelete(work); // already gone: nothing to do, no exception
    }
}
