using System.Net;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Tests.Storage;

/// <summary>
/// A data directory that became read-only (a remounted SD card, a full overlay): the agent serves the model it has,
/// refuses ground truth with the reason, says it is degraded, and takes ground truth again once the disk is writable.
/// The directory is a tmpfs remounted read-only (root cannot be stopped by file modes); the test needs root, as CI has.
/// </summary>
public class ReadOnlyDirectoryTests
{
    [Fact]
    public async Task AgentHost_OnAReadOnlyDataDirectory_ServesItsModel_RefusesFeedbackSayingWhy_AndRecoversWhenWritable()
    {
        using var disk = Tmpfs.Mount("16m");
        var dir = disk.Path;
        try
        {
            OfflineAgent.Install(new ModelStore(Path.Combine(dir, "models")), ModelWeights.Initialize(OfflineAgent.Spec, 5), 3);
            new SampleStore(Path.Combine(dir, "agent.db"), 100, 100).Dispose();
            new Outbox(Path.Combine(dir, "outbox.db"), 100).Dispose();
            disk.Remount(readOnly: true);

            var port = BrokerPorts.Free();
            await using (var agent = new AgentHostUnderTest(dir, "dev-ro", port))
            {
                var health = await agent.HealthAsync();
                Assert.Equal("degraded", health.GetProperty("status").GetString());
                Assert.Contains("read-only", health.GetProperty("storageNotice").GetString()!, StringComparison.OrdinalIgnoreCase);
                Assert.Equal(3UL, health.GetProperty("modelVersion").GetUInt64());

                using (var predicted = await agent.Http.PostAsync("v1/predict", new StringContent("""{"features":[1,2,3,4]}""")))
                    Assert.True(predicted.IsSuccessStatusCode, await predicted.Content.ReadAsStringAsync());
                using (var refused = await agent.Http.PostAsync("v1/feedback", new StringContent("""{"features":[1,2,3,4],"label":1}""")))
                {
                    Assert.Equal((HttpStatusCode)507, refused.StatusCode);
                    Assert.Contains("read-only", await refused.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
                }

                disk.Remount(readOnly: false);
                using var restart = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await agent.Process.WaitForExitAsync(restart.Token);
                Assert.Equal(ReadOnlyDataDirectory.RestartExitCode, agent.Process.ExitCode);
                Assert.Contains("writable again", await agent.OutputAsync(), StringComparison.Ordinal);
            }

            // What the service manager does next: the agent starts on its stores on disk and takes ground truth again.
            await using (var restarted = new AgentHostUnderTest(dir, "dev-ro", port))
            {
                var health = await restarted.HealthAsync();
                Assert.Equal("ok", health.GetProperty("status").GetString());
                using var accepted = await restarted.Http.PostAsync("v1/feedback", new StringContent("""{"features":[1,2,3,4],"label":1}"""));
                Assert.True(accepted.IsSuccessStatusCode, await accepted.Content.ReadAsStringAsync());
            }

            using (var store = new SampleStore(Path.Combine(dir, "agent.db"), 100, 100)) Assert.Equal(1, store.SampleCount);
        }
        finally
        {
            disk.Remount(readOnly: false);
        }
    }

    /// <summary>
    /// A device whose card went read-only before it ever installed a model (or an image whose data directory ships
    /// read-only): the agent starts degraded with nothing to serve, says why, and restarts once the directory is
    /// writable. It crashed creating its model directory (exit code 134, a core dump).
    /// </summary>
    [Fact]
    public async Task AgentHost_OnAnEmptyReadOnlyDataDirectory_StartsDegradedWithNothingToServe_AndRestartsWhenWritable()
    {
        using var disk = Tmpfs.Mount("16m");
        var dir = disk.Path;
        try
        {
            disk.Remount(readOnly: true);
            await using var agent = new AgentHostUnderTest(dir, "dev-ro-empty", BrokerPorts.Free());
            var (status, health) = await agent.HealthWithStatusAsync(ready: false);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status); // nothing to serve
            Assert.Contains("read-only", health.GetProperty("storageNotice").GetString()!, StringComparison.OrdinalIgnoreCase);
            using (var predicted = await agent.Http.PostAsync("v1/predict", new StringContent("""{"features":[1,2,3,4]}""")))
                Assert.Equal(HttpStatusCode.ServiceUnavailable, predicted.StatusCode);

            disk.Remount(readOnly: false);
            using var restart = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await agent.Process.WaitForExitAsync(restart.Token);
            Assert.Equal(ReadOnlyDataDirectory.RestartExitCode, agent.Process.ExitCode);
        }
        finally
        {
            disk.Remount(readOnly: false);
        }
    }
}
