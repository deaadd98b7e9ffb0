using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// A/B tests on a cost KPI — the mean cost per labelled prediction, from each arm's confusion counts — instead of a
/// proportion: the gate reads the devices' counts, the sample size comes from a standard deviation, and A/A simulations
/// on skewed costs keep the false-positive rate at α.
/// </summary>
public sealed class CostExperimentTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string MissedFraud = "cost:1>0=5,0>1=1"; // a missed fraud (truth 1, answered 0) costs 5, a false alarm 1

    /// <summary>
    /// One device's arm: <paramref name="labelled"/> labels, 80% right, its errors all in one cell — false alarms
    /// (truth 0, answered 1) or misses (truth 1, answered 0).
    /// </summary>
    private static ArmCounts Arm(ulong version, ulong labelled, bool misses)
    {
        var errors = labelled / 5;
        var arm = new ArmCounts { Version = version, Served = labelled, Labelled = labelled, Correct = labelled - errors, LatencyP95Ms = 1 };
        var cells = new ulong[ArmConfusion.Width + 2];
        cells[0] = (labelled - errors) / 2; // truth 0, answered 0
        cells[ArmConfusion.Width + 1] = labelled - errors - cells[0]; // truth 1, answered 1
        if (misses) cells[ArmConfusion.Width] = errors; // truth 1, answered 0
        else cells[1] = errors; // truth 0, answered 1
        arm.Confusion.AddRange(cells);
        return arm;
    }

    /// <summary>Both arms 80% accurate; A's errors are false alarms, B's are missed frauds.</summary>
    private static List<ExperimentReport> Fleet(int devices = 20, ulong labelled = 400) =>
        Enumerable.Range(0, devices).Select(_ => new ExperimentReport { RolloutId = "r", A = Arm(1, labelled, misses: false), B = Arm(2, labelled, misses: true) }).ToList();

    private static ExperimentRequest Test(string metric, bool higherIsBetter = false, ExperimentMode mode = ExperimentMode.Sequential, double? sd = 2) => new()
    {
        Metric = metric,
        HigherIsBetter = higherIsBetter,
        Design = new ExperimentDesign { Mode = mode, MinDetectableEffect = 0.25, StandardDeviation = sd, BaselineRate = 0.8 },
    };

    [Fact]
    public void ACostKpi_StopsTheVersionWhoseErrorsCostMore_WhereAccuracySeesNoDifference()
    {
        var reports = Fleet();
        var accuracy = ExperimentGate.Judge(Test("accuracy", higherIsBetter: true, sd: null) with { Design = new ExperimentDesign { BaselineRate = 0.8, MinDetectableEffect = 0.05 } }, reports);
        Assert.StartsWith("pass: A/B test (Sequential): no significant difference", accuracy.Verdict.ToString(), StringComparison.Ordinal);

        var cost = ExperimentGate.Judge(Test(MissedFraud), reports);
        Assert.StartsWith("fail: A/B test (Sequential): the version is higher on mean cost, mean cost 1.0000 (B, 8000 labelled) against 0.2000 (A, 8000)", cost.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal((0.2, 1.0), (Math.Round(cost.ValueA!.Value, 6), Math.Round(cost.ValueB!.Value, 6))); // what the operator reads: costs, not their negation
        Assert.Equal(MissedFraud, cost.Metric);

        // The same counts where the matrix is a value (higher is better): B passes.
        var value = ExperimentGate.Judge(Test(MissedFraud, higherIsBetter: true), reports);
        Assert.StartsWith("pass: A/B test (Sequential): the version is higher on mean cost", value.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheFixedHorizon_ForAMean_IsSizedByItsStandardDeviation_AndReadOnlyThere()
    {
        // n = 2σ²(z₀.₉₇₅ + z₀.₈)²/δ² = 2·4·(1.95996 + 0.84162)²/0.0625 = 1004.7 → 1005.
        var design = new ExperimentDesign { Mode = ExperimentMode.FixedHorizon, StandardDeviation = 2, MinDetectableEffect = 0.25 };
        Assert.Equal(1005, design.SampleSizePerArm());
        var early = ExperimentGate.Judge(Test(MissedFraud, mode: ExperimentMode.FixedHorizon), Fleet(devices: 2));
        Assert.StartsWith("wait: A/B test (fixed horizon): 800 of 1005 labels per arm; read once, at the horizon", early.Verdict.ToString(), StringComparison.Ordinal);
        var read = ExperimentGate.Judge(Test(MissedFraud, mode: ExperimentMode.FixedHorizon), Fleet(devices: 3));
        Assert.StartsWith("fail: A/B test (FixedHorizon): the version is higher on mean cost", read.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TestsOnACost_NeedAStandardDeviation_AndNoBandit()
    {
        Test(MissedFraud).Validate();
        Assert.Contains("--ab-sd", Assert.Throws<ArgumentException>(() => Test(MissedFraud, sd: null).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("bandit compares proportions", Assert.Throws<ArgumentException>(() => Test(MissedFraud, mode: ExperimentMode.Bandit).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("is a proportion", Assert.Throws<ArgumentException>(() => Test("share:1").Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("below 32", Assert.Throws<ArgumentException>(() => Test("cost:40>0=1").Validate()).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Test("cost:1>0=lots").Validate());
        Assert.Throws<ArgumentException>(() => Test(MissedFraud, sd: -1).Validate());
    }

    [Fact]
    public void ImpossibleConfusionCounts_AreNotPlausible_AndAForgedDeviceIsScaledDown()
    {
        var report = Fleet(devices: 1)[0];
        Assert.True(ReportBounds.IsPlausible(report));
        report.B.Confusion[0] += report.B.Labelled; // more outcomes than labels
        Assert.False(ReportBounds.IsPlausible(report));
        var oversized = Fleet(devices: 1)[0];
        oversized.B.Confusion.AddRange(new ulong[ArmConfusion.Cells]); // more cells than the layout has
        Assert.False(ReportBounds.IsPlausible(oversized));

        // Honest devices: B's errors cost more. One forged device claims a million cost-free labels for B.
        var reports = Fleet(devices: 30);
        var forged = new ExperimentReport { RolloutId = "r", A = Arm(1, 1_000_000, misses: true), B = new ArmCounts { Version = 2, Served = 1_000_000, Labelled = 1_000_000, Correct = 1_000_000, LatencyP95Ms = 1 } };
        forged.B.Confusion.Add(1_000_000);
        reports.Add(forged);
        var view = ExperimentGate.Judge(Test(MissedFraud), reports);
        Assert.StartsWith("fail: A/B test (Sequential): the version is higher on mean cost", view.Verdict.ToString(), StringComparison.Ordinal);
        var bounded = DeviceInfluence.Bound(reports)[^1];
        Assert.True(bounded.B.Confusion.Aggregate(0UL, (s, c) => s + c) <= bounded.B.Labelled && bounded.B.Labelled <= 400);
    }

    /// <summary>Per-label costs with a long tail: 0 (85%), 1 (10%), 5 (5%) — mean 0.35, sd 1.11; <paramref name="shift"/> moves mass from 0 to 5.</summary>
    private static double Draw(Random random, double shift)
    {
        var u = random.NextDouble();
        return u < 0.05 + shift ? 5 : u < 0.15 + shift ? 1 : 0;
    }

    private static readonly ExperimentDesign Design = new() { StandardDeviation = 1.25, MinDetectableEffect = 0.15 };
    private const int Seeds = MeanAaSimulation.Seeds;

    private static double Rate(double shiftB, ExperimentMode mode, params ExperimentVerdict[] verdicts) =>
        MeanAaSimulation.Rate(random => Draw(random, 0), random => Draw(random, shiftB), Design with { Mode = mode }, verdicts);

    [Fact]
    public void AaTestsOnSkewedCosts_KeepTheFalsePositiveRateAtAlpha_AndAShiftOfTheMinimumEffectIsFound()
    {
        var fixedRate = Rate(0, ExperimentMode.FixedHorizon, ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        var sequentialRate = Rate(0, ExperimentMode.Sequential, ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        // +0.15 in mean cost: 3% of labels moved from cost 0 to cost 5 (B is better when higher, i.e. when it costs more here).
        var fixedPower = Rate(0.03, ExperimentMode.FixedHorizon, ExperimentVerdict.BBetter);
        var sequentialPower = Rate(0.03, ExperimentMode.Sequential, ExperimentVerdict.BBetter);
        output.WriteLine($"cost A/A over {Seeds} seeds ({Design.SampleSizePerArm()} per arm): fixed {fixedRate:P1}, sequential {sequentialRate:P1}; +0.15: fixed power {fixedPower:P1}, sequential {sequentialPower:P1}");

        // 1,000 seeds: the standard error of a 5% rate is 0.7 points.
        Assert.InRange(fixedRate, 0.03, 0.07);
        Assert.True(sequentialRate <= 0.07, $"sequential false-positive rate {sequentialRate:P1}");
        Assert.InRange(fixedPower, 0.72, 0.90);
        Assert.True(sequentialPower > 0.70, $"sequential power {sequentialPower:P1}");
    }
}
