using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Tests.Storage;

public class HealthWindowRestartTests
{
    [Fact]
    public async Task VersionStillOnTrialAtStart_IsRolledBack_AndTheDeviceSaysWhy()
    {
        string dir;
        await using (var first = await OfflineAgent.StartAsync())
        {
            Assert.Equal(3UL, first.Agent.ModelVersion);
            dir = first.Directory;
        }

        // Simulate: v4 was switched to under a health window, and the process died before it ended.
        var models = new ModelStore(Path.Combine(dir, "models"));
        OfflineAgent.Install(models, ModelWeights.Initialize(OfflineAgent.Spec, 6), 4);
        models.BeginTrial(4);
        Assert.Equal(4UL, models.CurrentVersion);

        await using var restarted = await OfflineAgent.StartAsync(dir);
        Assert.Equal(3UL, restarted.Agent.ModelVersion);
        Assert.Contains("health window", restarted.Agent.ModelNotice, StringComparison.Ordinal);
        Assert.Null(models.TrialVersion);
        Assert.Equal(3UL, models.CurrentVersion);
    }
}
