using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Agent.Tests;

/// <summary>The device's sketch policy on real windows of a real agent, on a fake clock: quiet windows wait for the row floor, then go without sketches.</summary>
public class ProfilePolicyTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(5);

    private static ProfileReport[] Profiles(OfflineAgent device) => device.Outbox.Peek(1000)
        .Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
        .Select(m => ProfileReport.Parser.ParseFrom(m.Payload)).ToArray();

    [Fact]
    public async Task WindowUnderTheRowFloor_IsCarriedOver_ThenSentWithoutFeatureSketches()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
        await using var device = await OfflineAgent.StartAsync(configure: o => o with { ProfileWindow = Window }, time: time);
        var agent = device.Agent;
        for (var i = 0; i < 5; i++) agent.Predict([i, 1, 2, 3]);

        // Three windows pass with 5 rows (< 20): nothing leaves yet.
        await AdvanceAsync(time, Window * 3, () => false);
        Assert.Empty(Profiles(device));

        // Enough rows: the carried window goes out whole at the next tick, its sketches compacted (no single-value items).
        for (var i = 0; i < 20; i++) agent.Predict([i, 1, 2, 3]);
        await AdvanceAsync(time, Window, () => Profiles(device).Length == 1);
        var first = Profiles(device)[0];
        Assert.Equal(25UL, first.Predictions);
        Assert.All(first.Features, f => Assert.Equal(25UL, f.Count));
        Assert.All(first.Features, f => Assert.Equal(0U, f.Quantiles.LevelSizes[0]));
        Assert.Equal(0, agent.SketchesWithheld);

        // A quiet device (3 rows) waits twelve windows, then reports its counts without any feature sketch.
        for (var i = 0; i < 3; i++) agent.Predict([i, 1, 2, 3]);
        var waited = await AdvanceAsync(time, Window * 20, () => Profiles(device).Length == 2);
        Assert.InRange(waited, Window * 12, Window * 13);
        var quiet = Profiles(device)[1];
        Assert.Equal(3UL, quiet.Predictions);
        Assert.All(quiet.Features, f => Assert.Equal(0UL, f.Count));
        Assert.Equal(1, agent.SketchesWithheld);
        Assert.Equal(waited, TimeSpan.FromMilliseconds(quiet.WindowEndUnixMs - quiet.WindowStartUnixMs));
    }

    /// <summary>
    /// Moves the fake clock on in one-minute steps, letting the agent's loops run between them, until
    /// <paramref name="done"/> holds (then returns the fake time taken) or <paramref name="limit"/> has passed.
    /// </summary>
    private static async Task<TimeSpan> AdvanceAsync(FakeTimeProvider time, TimeSpan limit, Func<bool> done)
    {
        var step = TimeSpan.FromMinutes(1);
        for (var elapsed = TimeSpan.Zero; elapsed < limit;)
        {
            time.Advance(step);
            elapsed += step;
            for (var i = 0; i < 5 && !done(); i++) await Task.Delay(1);
            if (done()) return elapsed;
        }

        return limit;
    }
}
