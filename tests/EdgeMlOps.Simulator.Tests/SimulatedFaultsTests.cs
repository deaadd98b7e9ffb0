namespace EdgeMlOps.Simulator.Tests;

public class SimulatedFaultsTests
{
    private static readonly string[] Devices = Enumerable.Range(0, 2000).Select(i => $"dev-{i:D5}").ToArray();

    [Theory]
    [InlineData("sign-flip")]
    [InlineData("scale")]
    [InlineData("noise")]
    public void ByzantineDevices_AreAFixedShare_AndTamperTheirUpdates(string attack)
    {
        var faults = new SimulatedFaults(1, 0, 0, TimeSpan.Zero, byzantineFraction: 0.2, attack: attack, attackScale: 10);
        var byzantine = Devices.Where(faults.IsByzantine).ToArray();
        Assert.InRange(byzantine.Length, 340, 460);
        Assert.Equal(byzantine, Devices.Where(new SimulatedFaults(1, 0, 0, TimeSpan.Zero, byzantineFraction: 0.2).IsByzantine));

        var honest = new[] { 0.5f, -1f, 2f };
        var delta = honest.ToArray();
        faults.TamperUpdate(Devices.First(d => !faults.IsByzantine(d)), "r1", delta);
        Assert.Equal(honest, delta);

        faults.TamperUpdate(byzantine[0], "r1", delta);
        switch (attack)
        {
            case "sign-flip":
                Assert.Equal(honest.Select(v => -10 * v), delta);
                break;
            case "scale":
                Assert.Equal(honest.Select(v => 10 * v), delta);
                break;
            default:
                Assert.NotEqual(honest, delta);
                Assert.All(delta, v => Assert.InRange(Math.Abs(v), 0, 60));
                break;
        }

        Assert.False(faults.FlipsLabels(byzantine[0]));
    }

    [Fact]
    public void LabelFlipping_PoisonsData_NotUpdates_AndSlowDevicesReportLate()
    {
        var faults = new SimulatedFaults(1, 0, 0, TimeSpan.Zero, slowFraction: 0.3, slowDelay: TimeSpan.FromSeconds(2), byzantineFraction: 0.2, attack: "label-flip");
        var flipper = Devices.First(faults.FlipsLabels);
        var delta = new[] { 1f, 2f };
        faults.TamperUpdate(flipper, "r1", delta);
        Assert.Equal([1f, 2f], delta);

        var slow = Devices.Where(faults.IsSlow).ToArray();
        Assert.InRange(slow.Length, 520, 680);
        Assert.All(slow.Take(10), d => Assert.Equal(TimeSpan.FromSeconds(2), faults.ReportDelay(d, "any round")));
        Assert.Equal(TimeSpan.Zero, faults.ReportDelay(Devices.First(d => !faults.IsSlow(d)), "r1"));
    }
}
