using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests;

/// <summary>The device's sketch policy on real windows: quiet windows wait for the row floor, then go without sketches.</summary>
public class ProfilePolicyTests
{
    private static ProfileReport[] Profiles(OfflineAgent device) => device.Outbox.Peek(1000)
        .Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
        .Select(m => ProfileReport.Parser.ParseFrom(m.Payload)).ToArray();

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task WindowUnderTheRowFloor_IsCarriedOver_ThenSentWithoutFeatureSketches()
    {
        await using var device = await OfflineAgent.StartAsync(configure: o => o with { ProfileWindow = TimeSpan.FromMilliseconds(150) });
        var agent = device.Agent;
        for (var i = 0; i < 5; i++) agent.Predict([i, 1, 2, 3]);

        // Several ticks pass with 5 rows (< 20): nothing leaves yet.
        await Task.Delay(600);
        Assert.Empty(Profiles(device));

        // Enough rows: the carried window goes out whole, its sketches compacted (no single-value items).
        for (var i = 0; i < 20; i++) agent.Predict([i, 1, 2, 3]);
        await UntilAsync(() => Profiles(device).Length == 1, "the carried window");
        var first = Profiles(device)[0];
        Assert.Equal(25UL, first.Predictions);
        Assert.All(first.Features, f => Assert.Equal(25UL, f.Count));
        Assert.All(first.Features, f => Assert.Equal(0U, f.Quantiles.LevelSizes[0]));
        Assert.Equal(0, agent.SketchesWithheld);

        // A quiet device (3 rows) waits twelve windows, then reports its counts without any feature sketch.
        for (var i = 0; i < 3; i++) agent.Predict([i, 1, 2, 3]);
        await Task.Delay(300);
        Assert.Single(Profiles(device));
        await UntilAsync(() => Profiles(device).Length == 2, "the quiet window");
        var quiet = Profiles(device)[1];
        Assert.Equal(3UL, quiet.Predictions);
        Assert.All(quiet.Features, f => Assert.Equal(0UL, f.Count));
        Assert.Equal(1, agent.SketchesWithheld);
        Assert.True(quiet.WindowEndUnixMs - quiet.WindowStartUnixMs >= 12 * 150 - 50, $"window of {quiet.WindowEndUnixMs - quiet.WindowStartUnixMs} ms");
    }
}
