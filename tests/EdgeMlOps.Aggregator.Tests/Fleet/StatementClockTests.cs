using EdgeMlOps.Aggregator.Trust;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>The issue times of the fleet's dated statements: strictly increasing, across restarts, never kept over an hour ahead of the clock.</summary>
public sealed class StatementClockTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static string KeptIn() => Path.Combine(AggregatorFixture.TempDirectory(), "issued");

    [Fact]
    public void OnAStoppedClock_TimesStillIncrease_AndARestartOnAClockSetBackGoesOnFromTheLast()
    {
        var path = KeptIn();
        var time = new FakeTimeProvider(Start);
        var clock = new StatementClock(path, time);
        var now = Start.ToUnixTimeMilliseconds();
        Assert.Equal([now, now + 1, now + 2], [clock.Next(), clock.Next(), clock.Next()]);

        time.AdjustTime(Start.AddMinutes(-30)); // set back, then a restart
        var restarted = new StatementClock(path, time);
        Assert.Contains("before the last statement issued (2026-12-07 12:00:00Z): statements go on from that time", restarted.Notice, StringComparison.Ordinal);
        Assert.Equal(now + 3, restarted.Next());

        time.AdjustTime(Start.AddMinutes(5)); // the clock passes the last time given: its reading again
        Assert.Equal(Start.AddMinutes(5).ToUnixTimeMilliseconds(), new StatementClock(path, time).Next());
    }

    [Theory]
    [InlineData("9223372036854775807")]
    [InlineData("99999999999999")]
    [InlineData("-5")]
    [InlineData("not a time")]
    public void ATimeKeptOverAnHourAheadOfTheClock_OrNoTimeAtAll_IsNotGoneOnFrom(string kept)
    {
        // Times from a clock that ran ahead: devices refuse them, so going on from them would keep every statement refused.
        var path = KeptIn();
        File.WriteAllText(path, kept);
        var clock = new StatementClock(path, new FakeTimeProvider(Start));
        if (kept.StartsWith('9')) Assert.Contains("over an hour before the last statement issued", clock.Notice, StringComparison.Ordinal);
        else Assert.Null(clock.Notice);
        Assert.Equal(Start.ToUnixTimeMilliseconds(), clock.Next());
    }

    [Fact]
    public void ATimeKeptWithinTheHourAhead_IsGoneOnFrom()
    {
        var path = KeptIn();
        var ahead = Start.AddMinutes(50).ToUnixTimeMilliseconds();
        File.WriteAllText(path, ahead.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ahead + 1, new StatementClock(path, new FakeTimeProvider(Start)).Next());
    }
}
