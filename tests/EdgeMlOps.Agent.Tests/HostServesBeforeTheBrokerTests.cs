using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Tests;

namespace EdgeMlOps.Agent.Tests;

/// <summary>
/// An agent serves its installed model whatever the network does: a broker that takes the connection and never
/// answers (a hung broker, a middlebox, a captive portal) must not keep the local API from starting.
/// </summary>
public class HostServesBeforeTheBrokerTests
{
    [Fact]
    public async Task AgentHost_WhoseBrokerTakesTheConnectionAndNeverAnswers_ServesItsInstalledModelMeanwhile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-silent-" + Guid.NewGuid().ToString("N"));
        OfflineAgent.Install(new ModelStore(Path.Combine(dir, "models")), ModelWeights.Initialize(OfflineAgent.Spec, 5), 3);
        await using var silent = SilentListener.Start();
        try
        {
            await using var agent = new AgentHostUnderTest(dir, "dev-s", BrokerPorts.Free(), $"mqtt://127.0.0.1:{silent.Port}");
            var health = await agent.HealthAsync();
            var answered = DateTime.UtcNow;

            // The first attempt waits up to 10 s for the broker; the API answered before it gave up (it used to start only then).
            var waited = answered - (silent.FirstAcceptedAt ?? answered);
            Assert.True(waited < TimeSpan.FromSeconds(5), $"the API answered {waited} after the agent's connection was taken");
            Assert.False(health.GetProperty("connected").GetBoolean());
            Assert.Equal(3UL, health.GetProperty("modelVersion").GetUInt64());
            using var predicted = await agent.Http.PostAsync("v1/predict", new StringContent("""{"features":[1,2,3,4]}"""));
            Assert.True(predicted.IsSuccessStatusCode, await predicted.Content.ReadAsStringAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
