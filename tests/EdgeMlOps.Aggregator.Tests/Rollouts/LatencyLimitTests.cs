using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>The latency guardrail counts a version slower only when it is both relatively and absolutely slower.</summary>
public sealed class LatencyLimitTests
{
    [Theory]
    [InlineData(0.108, 0.045, 2.0, 1.0, false)] // 2.4× but 0.06 ms: what the rollout scenario measured in CI
    [InlineData(0.108, 0.045, 2.0, 0.0, true)]  // the same without a floor: the old ratio-only guard
    [InlineData(4.5, 2.0, 2.0, 1.0, true)]      // 2.25× and 2.5 ms more
    [InlineData(3.9, 2.0, 2.0, 1.0, false)]     // 1.95×: within the ratio
    [InlineData(50, 10, 0, 1.0, false)]         // ratio 0: the guard is off
    [InlineData(5, 0, 2.0, 1.0, false)]         // no baseline measured: nothing to compare
    public void Exceeded_NeedsTheRatioAndTheFloor(double candidate, double baseline, double ratio, double floor, bool expected) =>
        Assert.Equal(expected, LatencyLimit.Exceeded(candidate, baseline, ratio, floor));

    [Fact]
    public void TheStageGate_IgnoresASubMillisecondGap_AndFailsAReal_One()
    {
        static List<DeviceInfo> Devices(double p95) => Enumerable.Range(0, 5).Select(i => new DeviceInfo($"d{i}", DeviceState.Online, "m", 1, 10, new Dictionary<string, string>(), DateTimeOffset.UnixEpoch, 1)
        {
            Predictions = 100, LatencyP95Ms = p95,
        }).ToList();
        var gates = new RolloutGates { MinDevicesReporting = 1, MaxLatencyP95Ratio = 2.0 };

        Assert.Equal("pass", StageGate.Judge(gates, reporting: 5, bad: 0, awaited: 5, Devices(0.108), Devices(0.045)).Verdict.ToString());
        Assert.Equal("fail: p95 latency 4.50 ms against 2.00 ms on the replaced version (limit 2.0× and 1 ms more)", StageGate.Judge(gates, 5, 0, 5, Devices(4.5), Devices(2.0)).Verdict.ToString());
        Assert.StartsWith("fail: p95 latency 0.11 ms", StageGate.Judge(gates with { MinLatencyIncreaseMs = 0 }, 5, 0, 5, Devices(0.108), Devices(0.045)).Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ALimitNoReadingCouldMeet_IsRefused_WithTheFieldNamed()
    {
        Assert.Contains("minLatencyIncreaseMs", Assert.Throws<ArgumentException>(() => new RolloutGates { MinLatencyIncreaseMs = -1 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("maxLatencyP95Ratio", Assert.Throws<ArgumentException>(() => new ShadowRequest { MaxLatencyP95Ratio = 0.5 }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("minLatencyIncreaseMs", Assert.Throws<ArgumentException>(() => new ExperimentRequest { MinLatencyIncreaseMs = double.NaN }.Validate()).Message, StringComparison.Ordinal);
        new RolloutGates().Validate();
        new ShadowRequest().Validate();
        new ExperimentRequest().Validate();
    }
}
