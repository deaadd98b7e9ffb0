using EdgeMlOps.Aggregator.Rounds;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>Check-in slots and the arrival figures that show what they flatten.</summary>
public class PaceSteeringTests
{
    private static readonly DateTimeOffset Opened = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Slots_AreSpreadEvenlyOverTheWindow_FromTheRoundsStart()
    {
        var slots = TaskDispatcher.CheckInSlots(Opened, TimeSpan.FromSeconds(10), 4);
        Assert.Equal([0, 2_500, 5_000, 7_500], slots.Select(s => s - Opened.ToUnixTimeMilliseconds()));
        Assert.All(TaskDispatcher.CheckInSlots(Opened, TimeSpan.Zero, 4), s => Assert.Equal(0, s)); // no window: start at once
        Assert.Equal([0L], TaskDispatcher.CheckInSlots(Opened, TimeSpan.FromSeconds(10), 1));
    }

    [Fact]
    public void Arrivals_GiveThePeakWithinAnySecond_AndTheSpread()
    {
        var arrivals = new UpdateArrivals();
        foreach (var ms in new[] { 0, 100, 200, 900, 1_500, 1_600, 4_000 }) arrivals.Record(Opened.AddMilliseconds(ms));
        Assert.Equal(4, arrivals.PeakPerSecond()); // 0, 100, 200, 900
        Assert.Equal(4.0, arrivals.SpreadSeconds(), 9);
        Assert.Equal(0, new UpdateArrivals().PeakPerSecond());
    }
}
