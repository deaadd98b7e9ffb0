using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>
/// The canary's accuracy gate compares different devices (those on the target and those still on the replaced
/// version); stratified by a tag, it compares like with like. Each case below is one a pooled comparison gets wrong.
/// </summary>
public sealed class StratifiedGateTests
{
    /// <summary><paramref name="devices"/> devices tagged hw=<paramref name="hw"/>, each with 100 labelled predictions at <paramref name="accuracy"/>.</summary>
    private static IEnumerable<DeviceInfo> Devices(string hw, int devices, double accuracy) =>
        Enumerable.Range(0, devices).Select(i => new DeviceInfo($"{hw}-{i}", DeviceState.Online, "m", 1, 10, new Dictionary<string, string> { ["hw"] = hw }, DateTimeOffset.UnixEpoch, 1)
        {
            Predictions = 100, LatencyP95Ms = 1, FeedbackCount = 100, FeedbackCorrect = (ulong)Math.Round(100 * accuracy),
        });

    private static readonly RolloutGates Pooled = new() { MinDevicesReporting = 1, MaxAccuracyDrop = 0.05 };
    private static readonly RolloutGates Stratified = Pooled with { StratifyBy = "hw" };

    private static string Verdict(RolloutGates gates, IEnumerable<DeviceInfo> target, IEnumerable<DeviceInfo> baseline)
    {
        var t = target.ToList();
        return StageGate.Judge(gates, reporting: t.Count, bad: 0, awaited: t.Count, t, baseline.ToList()).Verdict.ToString();
    }

    [Fact]
    public void ACanaryOfHardDevices_DoesNotBlameTheVersion_WhenStratified()
    {
        // The version is exactly as accurate as the old one on each kind of device (cam-old 70%, cam-new 95%), but the
        // canary drew mostly old cameras: pooled, the target looks 15 points worse.
        var target = Devices("cam-old", 8, 0.70).Concat(Devices("cam-new", 2, 0.95));
        var baseline = Devices("cam-old", 4, 0.70).Concat(Devices("cam-new", 16, 0.95));
        Assert.StartsWith("fail: ground-truth accuracy 0.7500 against 0.9000", Verdict(Pooled, target, baseline), StringComparison.Ordinal);
        Assert.Equal("pass", Verdict(Stratified, target, baseline));
    }

    [Fact]
    public void AVersionWorseEverywhere_IsNotHiddenByAFavourableCanary_WhenStratified()
    {
        // Eight points worse on both kinds of device, but the canary drew mostly new cameras: pooled, it looks better.
        var target = Devices("cam-old", 2, 0.62).Concat(Devices("cam-new", 18, 0.87));
        var baseline = Devices("cam-old", 15, 0.70).Concat(Devices("cam-new", 5, 0.95));
        Assert.Equal("pass", Verdict(Pooled, target, baseline));
        var stratified = Verdict(Stratified, target, baseline);
        Assert.StartsWith("fail: ground-truth accuracy", stratified, StringComparison.Ordinal);
        Assert.Contains("stratified by hw over 2 values on both sides", stratified, StringComparison.Ordinal);
    }

    [Fact]
    public void AVersionThatBreaksOneKindOfDevice_FailsThere_EvenWhenTheOthersCarryItsAverage()
    {
        var target = Devices("cam-old", 10, 0.90).Concat(Devices("cam-new", 10, 0.90)).Concat(Devices("npu-x", 2, 0.40));
        var baseline = Devices("cam-old", 10, 0.90).Concat(Devices("cam-new", 10, 0.90)).Concat(Devices("npu-x", 2, 0.90));
        Assert.Equal("pass", Verdict(Pooled with { MaxAccuracyDrop = 0.10 }, target, baseline)); // the average drop, 4.5 points, is allowed
        var verdict = Verdict(Stratified with { MaxAccuracyDrop = 0.10 }, target, baseline);
        Assert.StartsWith("fail: on hw=npu-x ground-truth accuracy 0.4000 against 0.9000", verdict, StringComparison.Ordinal);
        Assert.Contains("one of 3 values judged", verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void EqualVersions_PassStratified_AndTheTagIsValidated()
    {
        var target = Devices("cam-old", 5, 0.8).Concat(Devices("cam-new", 5, 0.9));
        var baseline = Devices("cam-old", 10, 0.8).Concat(Devices("cam-new", 10, 0.9));
        Assert.Equal("pass", Verdict(Stratified, target, baseline));
        Assert.Contains("stratifyBy", Assert.Throws<ArgumentException>(() => (Pooled with { StratifyBy = "" }).Validate()).Message, StringComparison.Ordinal);
        Stratified.Validate();

        // No stratum on both sides: nothing to compare, the gate waits rather than passing on no comparison.
        var verdict = Verdict(Stratified, Devices("cam-old", 5, 0.8), Devices("cam-new", 5, 0.9));
        Assert.Equal("wait: no value of hw has labelled predictions on both the target and the replaced version", verdict);
    }
}
