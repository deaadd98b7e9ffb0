using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// A/B tests of a regressor or multi-label classifier on <c>mse</c> — each arm's mean squared error on the targets its
/// requests got back — through the mean-metric tests (sized by a standard deviation, lower is better). Squared errors
/// are heavily skewed (a normal residual's square is χ²₁, skewness 2.8), so A/A simulations check the false-positive
/// rate stays at α.
/// </summary>
public sealed class SquaredErrorExperimentTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>One squared error of a normal residual of standard deviation <paramref name="sd"/>.</summary>
    private static double Draw(Random random, double sd)
    {
        var z = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        return z * z * sd * sd;
    }

    /// <summary>One device's arm: <paramref name="labelled"/> targets, squared errors of residual sd <paramref name="sd"/>.</summary>
    private static ArmCounts Arm(ulong version, int labelled, double sd, Random random)
    {
        var errors = Enumerable.Range(0, labelled).Select(_ => Draw(random, sd)).ToArray();
        return new ArmCounts
        {
            Version = version, Served = (ulong)labelled, Labelled = (ulong)labelled, LatencyP95Ms = 1,
            SquaredErrorSum = errors.Sum(), SquaredErrorSquares = errors.Sum(e => e * e),
        };
    }

    private static List<ExperimentReport> Fleet(double sdB, int devices = 10, int labelled = 200, int seed = 1)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, devices).Select(_ => new ExperimentReport { RolloutId = "r", A = Arm(1, labelled, 1.0, random), B = Arm(2, labelled, sdB, random) })];
    }

    /// <summary>Residual sd 1: one squared error has mean 1 and sd √2; the test looks for a change of 0.25 in the MSE.</summary>
    private static ExperimentRequest Test(ExperimentMode mode = ExperimentMode.Sequential, bool higherIsBetter = false) => new()
    {
        Metric = "mse",
        HigherIsBetter = higherIsBetter,
        Design = new ExperimentDesign { Mode = mode, MinDetectableEffect = 0.25, StandardDeviation = 1.5 },
    };

    [Fact]
    public void AVersionWithLargerErrors_IsStopped_AndOneWithSmallerErrors_Passes_ReadAsMeanSquaredErrors()
    {
        var worse = ExperimentGate.Judge(Test(), Fleet(sdB: 1.3));
        output.WriteLine(worse.Verdict.ToString());
        Assert.StartsWith("fail: A/B test (Sequential): the version is higher on mean squared error, mean squared error 1.", worse.Verdict.ToString(), StringComparison.Ordinal);
        Assert.InRange(worse.ValueB!.Value, 1.5, 1.9); // what the operator reads: MSEs, not their negation
        Assert.InRange(worse.ValueA!.Value, 0.85, 1.15);
        Assert.Equal("mse", worse.Metric);

        var better = ExperimentGate.Judge(Test(), Fleet(sdB: 0.8));
        Assert.StartsWith("pass: A/B test (Sequential): the version is lower on mean squared error", better.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnMseTest_NeedsLowerIsBetter_AStandardDeviation_AndNoBandit()
    {
        Test().Validate();
        Assert.Contains("set higherIsBetter false", Assert.Throws<ArgumentException>(() => Test(higherIsBetter: true).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("--ab-sd", Assert.Throws<ArgumentException>(() => (Test() with { Design = new ExperimentDesign { MinDetectableEffect = 0.25 } }).Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("'mse' is a mean", Assert.Throws<ArgumentException>(() => Test(ExperimentMode.Bandit).Validate()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ImpossibleSquaredErrors_AreNotPlausible()
    {
        var report = Fleet(sdB: 1, devices: 1)[0];
        Assert.True(ReportBounds.IsPlausible(report));
        report.B.SquaredErrorSquares = report.B.SquaredErrorSum * report.B.SquaredErrorSum / report.B.Labelled / 2; // below (Σe)²/n
        Assert.False(ReportBounds.IsPlausible(report));
        var nan = Fleet(sdB: 1, devices: 1)[0];
        nan.A.SquaredErrorSum = double.NaN;
        Assert.False(ReportBounds.IsPlausible(nan));
    }

    private const int Seeds = MeanAaSimulation.Seeds;

    /// <summary>Oriented as the gate reads it: a squared error negated (higher is better).</summary>
    private static double Rate(double sdB, ExperimentMode mode, params ExperimentVerdict[] verdicts) =>
        MeanAaSimulation.Rate(random => -Draw(random, 1.0), random => -Draw(random, sdB), Test(mode).Design, verdicts);

    [Fact]
    public void AaTestsOnSquaredErrors_KeepTheFalsePositiveRateAtAlpha_AndAQuarterMoreErrorIsFound()
    {
        var fixedRate = Rate(1.0, ExperimentMode.FixedHorizon, ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        var sequentialRate = Rate(1.0, ExperimentMode.Sequential, ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        // MSE 1 → 1.25 (residual sd √1.25): the design's minimum effect.
        var fixedPower = Rate(Math.Sqrt(1.25), ExperimentMode.FixedHorizon, ExperimentVerdict.BWorse);
        var sequentialPower = Rate(Math.Sqrt(1.25), ExperimentMode.Sequential, ExperimentVerdict.BWorse);
        output.WriteLine($"mse A/A over {Seeds} seeds ({Test().Design.SampleSizePerArm()} per arm): fixed {fixedRate:P1}, sequential {sequentialRate:P1}; MSE +25%: fixed power {fixedPower:P1}, sequential {sequentialPower:P1}");

        // 1,000 seeds: the standard error of a 5% rate is 0.7 points.
        Assert.InRange(fixedRate, 0.03, 0.07);
        Assert.True(sequentialRate <= 0.07, $"sequential false-positive rate {sequentialRate:P1}");
        Assert.True(fixedPower > 0.70, $"fixed-horizon power {fixedPower:P1}");
        Assert.True(sequentialPower > 0.60, $"sequential power {sequentialPower:P1}");
    }
}
