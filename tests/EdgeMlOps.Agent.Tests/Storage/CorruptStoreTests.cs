using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Tests.Storage;

/// <summary>An unreadable store at start: kept aside, replaced, reported; never a crash loop.</summary>
public class CorruptStoreTests
{
    private static string Temp() => Path.Combine(Path.GetTempPath(), "edgemlops-corrupt-" + Guid.NewGuid().ToString("N"));

    private static void Garble(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, Enumerable.Repeat((byte)'x', 8192).ToArray());
    }

    [Fact]
    public void OpenOrQuarantine_KeepsTheUnreadableFileAside_AndOpensAFreshStore()
    {
        var dir = Temp();
        var path = Path.Combine(dir, "agent.db");
        Garble(path);
        var now = new DateTimeOffset(2026, 12, 1, 10, 30, 0, TimeSpan.Zero);

        var (store, notice) = StoreRecovery.OpenOrQuarantine(path, p => new SampleStore(p, 10, 10), now);
        using (store)
        {
            store.AddSamples([(new[] { 1f, 2f }, 1L)]);
            Assert.Equal(1, store.SampleCount);
        }

        Assert.NotNull(notice);
        Assert.Contains("agent.db was unreadable (SQLite error 26", notice);
        Assert.Contains("agent.db.corrupt-20261201T103000Z", notice);
        Assert.Equal(8192, new FileInfo(Path.Combine(dir, "agent.db.corrupt-20261201T103000Z")).Length);

        var (again, none) = StoreRecovery.OpenOrQuarantine(path, p => new SampleStore(p, 10, 10), now);
        using (again) Assert.Equal(1, again.SampleCount);
        Assert.Null(none);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task AgentHost_WithACorruptAgentDb_ServesItsInstalledModel_AndReportsDegraded()
    {
        var dir = Temp();
        OfflineAgent.Install(new ModelStore(Path.Combine(dir, "models")), ModelWeights.Initialize(OfflineAgent.Spec, 5), 3);
        Garble(Path.Combine(dir, "agent.db"));
        Garble(Path.Combine(dir, "outbox.db"));
        await using var agent = new AgentHostUnderTest(dir, "dev-c", BrokerPorts.Free());
        var http = agent.Http;
        var health = await agent.HealthAsync();
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        var notice = health.GetProperty("storageNotice").GetString()!;
        Assert.Contains("agent.db was unreadable", notice);
        Assert.Contains("outbox.db was unreadable", notice);
        Assert.Equal(3UL, health.GetProperty("modelVersion").GetUInt64());
        using var predicted = await http.PostAsync("v1/predict", new StringContent("""{"features":[1,2,3,4]}"""));
        Assert.True(predicted.IsSuccessStatusCode);
        using var feedback = await http.PostAsync("v1/feedback", new StringContent("""{"features":[1,2,3,4],"label":1}"""));
        Assert.True(feedback.IsSuccessStatusCode, "the fresh store takes ground truth");
        Assert.Single(Directory.GetFiles(dir, "agent.db.corrupt-*"));
    }
}
