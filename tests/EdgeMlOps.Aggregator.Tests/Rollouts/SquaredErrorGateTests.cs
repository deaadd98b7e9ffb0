using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>
/// A regressor's or multi-label classifier's stage gate compares the squared errors devices measure on their ground
/// truth — target devices against devices still on the replaced version — with a Welch interval against an allowed
/// increase of a share of the replaced version's error. Per-request errors are drawn here from known distributions so
/// the arithmetic can be checked by hand.
/// </summary>
public sealed class SquaredErrorGateTests
{
    /// <summary>A device whose <paramref name="errors"/> are its per-request squared errors on labelled predictions.</summary>
    private static DeviceInfo Device(string id, IReadOnlyList<double> errors, Dictionary<string, string>? tags = null) =>
        new(id, DeviceState.Online, "m", 1, 10, tags ?? [], DateTimeOffset.UnixEpoch, 1)
        {
            Predictions = (ulong)errors.Count, LatencyP95Ms = 1, FeedbackCount = (ulong)errors.Count,
            FeedbackSquaredErrorSum = errors.Sum(), FeedbackSquaredErrorSquares = errors.Sum(e => e * e),
        };

    /// <summary><paramref name="n"/> squared errors of a regressor with normal residuals of standard deviation <paramref name="sd"/> (seeded).</summary>
    private static double[] Errors(int n, double sd, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ =>
        {
            var z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            return z * sd * z * sd;
        })];
    }

    private static readonly RolloutGates Gates = new() { MinDevicesReporting = 1, MinFeedback = 100, MaxAccuracyDrop = 0.05 };

    private static GateReading Judge(List<DeviceInfo> target, List<DeviceInfo> baseline, RolloutGates? gates = null) =>
        StageGate.Judge(gates ?? Gates, reporting: target.Count, bad: 0, awaited: target.Count, target, baseline, squaredError: "MSE");

    [Fact]
    public void AVersionWithTwiceTheError_FailsTheStage_NamingBothMeans()
    {
        // Residual sd 1.4 against 1.0: MSE about 1.96 against 1.0, far beyond the allowed +5 %.
        var reading = Judge([Device("t1", Errors(300, 1.4, 1)), Device("t2", Errors(300, 1.4, 2))], [Device("b1", Errors(300, 1.0, 3)), Device("b2", Errors(300, 1.0, 4))]);
        Assert.StartsWith("fail: ground-truth MSE 1.9", reading.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Contains("over 600 and 600 labelled predictions", reading.Verdict.ToString(), StringComparison.Ordinal);
        Assert.InRange(reading.TargetSquaredError!.Value, 1.7, 2.2);
        Assert.InRange(reading.BaselineSquaredError!.Value, 0.85, 1.15);
        Assert.Null(reading.TargetAccuracy); // class hits mean nothing for values
    }

    [Fact]
    public void AVersionThatIsBetter_Passes_AndOneBarelyDifferent_WaitsForMoreLabels()
    {
        Assert.Equal("pass", Judge([Device("t", Errors(600, 0.8, 5))], [Device("b", Errors(600, 1.0, 6))]).Verdict.ToString());

        // The same residuals on both sides and few labels: the interval straddles the allowed +5 %.
        var reading = Judge([Device("t", Errors(120, 1.0, 7))], [Device("b", Errors(120, 1.0, 8))]);
        Assert.StartsWith("wait: ground-truth MSE", reading.Verdict.ToString(), StringComparison.Ordinal);

        // Too few labels on the target: the gate says how many it waits for.
        Assert.Equal("wait: 50 labelled predictions on the target (need 100)", Judge([Device("t", Errors(50, 3.0, 9))], [Device("b", Errors(600, 1.0, 10))]).Verdict.ToString());
    }

    /// <summary>
    /// A flaky simulator run found this: the replaced side's device had just switched back (its labels start from zero
    /// again) while the target already had hundreds, and the stage passed a version with 100× the error unjudged.
    /// </summary>
    [Fact]
    public void AReplacedSideShortOfLabels_IsWaitedFor_AndOnlyAStageWithNoDeviceLeftOnIt_PassesOnTheTargetAlone()
    {
        var far = Device("t", Errors(300, 5.5, 13));
        Assert.Equal("wait: 10 labelled predictions on the replaced version (need 100)", Judge([far], [Device("b", Errors(10, 1.0, 14))]).Verdict.ToString());
        Assert.Equal("wait: 0 labelled predictions on the replaced version (need 100)", Judge([far], [Device("b", [])]).Verdict.ToString());
        Assert.StartsWith("fail: ground-truth MSE", Judge([far], [Device("b", Errors(100, 1.0, 15))]).Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal("pass", Judge([far], []).Verdict.ToString()); // the last stage: nothing is left to compare with

        // Class accuracy the same way.
        static DeviceInfo Labelled(string id, ulong count, ulong correct) => Device(id, []) with { Predictions = count, FeedbackCount = count, FeedbackCorrect = correct };
        var worse = Labelled("t", 300, 150);
        Assert.Equal("wait: 20 labelled predictions on the replaced version (need 100)",
            StageGate.Judge(Gates, reporting: 1, bad: 0, awaited: 1, [worse], [Labelled("b", 20, 19)]).Verdict.ToString());
        Assert.StartsWith("fail: ground-truth accuracy 0.5000", StageGate.Judge(Gates, reporting: 1, bad: 0, awaited: 1, [worse], [Labelled("b", 100, 95)]).Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheInterval_IsWelchs_OnTheTwoSidesMeansAndSpreads()
    {
        // Two requests each side, by hand: target errors {1, 3} (mean 2, variance 2), replaced {0.5, 0.5} (mean 0.5,
        // variance 0): difference 1.5 ± z·√(2/2 + 0/2) = 1.5 ± z.
        var (verdict, difference, lower, upper) = SquaredErrorComparison.JudgeUnpaired((4, 10, 2), (1, 0.5, 2), 0.05, 0.95);
        var z = EdgeMlOps.Shared.Privacy.SpecialFunctions.NormalQuantile(0.95);
        Assert.Equal(1.5, difference, 12);
        Assert.Equal(1.5 - z, lower, 9);
        Assert.Equal(1.5 + z, upper, 9);
        Assert.Equal(AccuracyVerdict.Inconclusive, verdict); // the lower end −0.14 is below the allowed 0.025

        // One request on a side: unbounded, never a verdict.
        Assert.Equal(AccuracyVerdict.Inconclusive, SquaredErrorComparison.JudgeUnpaired((4, 16, 1), (1, 0.5, 2), 0.05, 0.95).Verdict);
    }

    [Fact]
    public void StratifyingByATag_DoesNotApply_ToSquaredErrors()
    {
        // Class strata would read accuracy 0 on both sides; for values the pooled comparison decides.
        var hw = new Dictionary<string, string> { ["hw"] = "a" };
        var reading = Judge([Device("t", Errors(600, 1.4, 11), hw)], [Device("b", Errors(600, 1.0, 12), hw)], Gates with { StratifyBy = "hw" });
        Assert.StartsWith("fail: ground-truth MSE", reading.Verdict.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("stratified", reading.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ADeviceReportingImpossibleErrors_IsReadAsReportingNone()
    {
        var directory = new DeviceDirectory();
        var status = new DeviceStatus
        {
            Header = new Header { SenderId = "liar", Boot = 1, Sequence = 1 }, State = DeviceState.Online, ModelName = "m", ModelVersion = 1,
            FeedbackCount = 10, FeedbackSquaredErrorSum = 10, FeedbackSquaredErrorSquares = 1, // Σe² ≥ (Σe)²/n is broken
        };
        directory.Apply("liar", status, DateTimeOffset.UnixEpoch);
        Assert.True(directory.TryGet("liar", out var info));
        Assert.Equal((0.0, 0.0), (info.FeedbackSquaredErrorSum, info.FeedbackSquaredErrorSquares));
        (status.Header.Sequence, status.FeedbackSquaredErrorSum) = (2, double.NaN);
        directory.Apply("liar", status, DateTimeOffset.UnixEpoch);
        Assert.True(directory.TryGet("liar", out info));
        Assert.Equal((0.0, 0.0), (info.FeedbackSquaredErrorSum, info.FeedbackSquaredErrorSquares));
        (status.Header.Sequence, status.FeedbackSquaredErrorSum, status.FeedbackSquaredErrorSquares) = (3, 10, 20);
        directory.Apply("liar", status, DateTimeOffset.UnixEpoch);
        Assert.True(directory.TryGet("liar", out info));
        Assert.Equal((10.0, 20.0), (info.FeedbackSquaredErrorSum, info.FeedbackSquaredErrorSquares));
    }
}
