using EdgeMlOps.Aggregator.Experiments;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// The A/B tests' promises, by simulation: A/A experiments over many seeds keep the false-positive rate at α for the
/// fixed-horizon test read once and for the sequential test read at every look, while the fixed test read at every
/// look (peeking) does not; a true difference of the minimum detectable effect is found with the design's power; a
/// losing variant stops early.
/// </summary>
public sealed class ExperimentStatisticsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly ExperimentDesign Design = new() { BaselineRate = 0.8, MinDetectableEffect = 0.05, Alpha = 0.05, Power = 0.8 };
    private const int Seeds = 2000;
    private const int Look = 50;

    [Fact]
    public void SampleSize_IsTheTwoProportionFormula()
    {
        // p1 = 0.80, p2 = 0.85: (1.95996·√(2·0.825·0.175) + 0.84162·√(0.16 + 0.1275))² / 0.05² = 905.4 → 906.
        Assert.Equal(906, Design.SampleSizePerArm());
        Assert.Equal(3841, new ExperimentDesign { BaselineRate = 0.10, MinDetectableEffect = 0.02 }.SampleSizePerArm()); // the textbook 10% → 12% case
    }

    /// <summary>One simulated experiment: labelled predictions arrive in both arms, the test is read every <see cref="Look"/> labels per arm.</summary>
    private static (ExperimentVerdict Verdict, long Labels) Run(double rateA, double rateB, int seed, Func<long, long, long, long, double, ExperimentReading> read)
    {
        var random = new Random(seed);
        long correctA = 0, correctB = 0, n = 0;
        var p = 1.0;
        var horizon = 2 * Design.SampleSizePerArm(); // the longest any test runs; each stops at its own horizon
        while (n < horizon)
        {
            for (var i = 0; i < Look && n < horizon; i++, n++)
            {
                if (random.NextDouble() < rateA) correctA++;
                if (random.NextDouble() < rateB) correctB++;
            }

            var reading = read(correctA, n, correctB, n, p);
            p = reading.PValue ?? p;
            if (reading.Verdict != ExperimentVerdict.Wait) return (reading.Verdict, n);
        }

        return (ExperimentVerdict.Wait, n);
    }

    private static double Share(IEnumerable<(ExperimentVerdict Verdict, long Labels)> runs, params ExperimentVerdict[] verdicts) =>
        runs.Count(r => verdicts.Contains(r.Verdict)) / (double)Seeds;

    private static (ExperimentVerdict, long)[] Many(double rateA, double rateB, Func<long, long, long, long, double, ExperimentReading> read) =>
        Enumerable.Range(0, Seeds).Select(seed => Run(rateA, rateB, seed, read)).ToArray();

    private static ExperimentReading Fixed(long a, long na, long b, long nb, double p) => ExperimentTests.FixedHorizon(a, na, b, nb, Design);

    private static ExperimentReading Sequential(long a, long na, long b, long nb, double p) => ExperimentTests.Sequential(a, na, b, nb, Design, p);

    /// <summary>The fixed test's z-test read at every look, stopping at the first significant one: what peeking does.</summary>
    private static ExperimentReading Peeking(long a, long na, long b, long nb, double p)
    {
        var (pa, pb) = ((double)a / na, (double)b / nb);
        var variance = pa * (1 - pa) / na + pb * (1 - pb) / nb;
        var z = variance > 0 ? (pb - pa) / Math.Sqrt(variance) : 0;
        var twoSided = 2 * (1 - EdgeMlOps.Shared.Privacy.SpecialFunctions.NormalCdf(Math.Abs(z)));
        var verdict = twoSided < Design.Alpha ? (z > 0 ? ExperimentVerdict.BBetter : ExperimentVerdict.BWorse) : ExperimentVerdict.Wait;
        return new ExperimentReading(na, a, nb, b, Design.SampleSizePerArm(), pa, pb, z, twoSided, verdict);
    }

    [Fact]
    public void AaTests_KeepTheFalsePositiveRateAtAlpha_ForBothModes_ButPeekingDoesNot()
    {
        var fixedRate = Share(Many(0.8, 0.8, Fixed), ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        var sequentialRate = Share(Many(0.8, 0.8, Sequential), ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);
        var peekingRate = Share(Many(0.8, 0.8, Peeking), ExperimentVerdict.BBetter, ExperimentVerdict.BWorse);

        output.WriteLine($"A/A over {Seeds} seeds, looks every {Look} labels: fixed horizon {fixedRate:P2}, sequential {sequentialRate:P2}, peeking {peekingRate:P2}");

        // 2,000 seeds: the standard error of a 5% rate is 0.5 points.
        Assert.InRange(fixedRate, 0.035, 0.065);
        Assert.True(sequentialRate <= 0.05 + 0.015, $"sequential false-positive rate {sequentialRate:P1} over {Seeds} A/A tests");
        Assert.True(peekingRate > 0.10, $"peeking's false-positive rate {peekingRate:P1} should be inflated well above 5%");
    }

    [Fact]
    public void ATrueDifferenceOfTheMinimumDetectableEffect_IsFoundWithTheDesignsPower()
    {
        var fixedPower = Share(Many(0.8, 0.85, Fixed), ExperimentVerdict.BBetter);
        Assert.InRange(fixedPower, 0.75, 0.86);
        var sequential = Many(0.8, 0.85, Sequential);
        var sequentialPower = Share(sequential, ExperimentVerdict.BBetter);
        Assert.True(sequentialPower > 0.72, $"sequential power {sequentialPower:P1} within its horizon (twice the fixed one)");
        var mean = sequential.Average(r => (double)r.Item2);
        output.WriteLine($"+5 points: fixed power {fixedPower:P1} at {Design.SampleSizePerArm()} per arm; sequential power {sequentialPower:P1}, mean {mean:F0} labels per arm");
        Assert.True(mean < 1.5 * Design.SampleSizePerArm(), $"sequential mean labels per arm {mean:F0}");
    }

    [Fact]
    public void ALosingVariant_StopsEarly_InTheSequentialMode()
    {
        var runs = Many(0.8, 0.68, Sequential);
        Assert.True(Share(runs, ExperimentVerdict.BWorse) > 0.97, "a 12-point-worse variant is stopped");
        var median = runs.Where(r => r.Item1 == ExperimentVerdict.BWorse).Select(r => r.Item2).Order().ElementAt(runs.Length / 2);
        output.WriteLine($"-12 points: sequential stops it in {Share(runs, ExperimentVerdict.BWorse):P1} of runs, median after {median} labels per arm");
        Assert.True(median < Design.SampleSizePerArm() / 2, $"median stop after {median} labels per arm (fixed horizon {Design.SampleSizePerArm()})");
    }

    [Fact]
    public void TheFixedTest_IsNotReadBeforeItsHorizon()
    {
        var early = ExperimentTests.FixedHorizon(100, 200, 190, 200, Design); // 50% vs 95%: obvious, but not the design
        Assert.Equal(ExperimentVerdict.Wait, early.Verdict);
        Assert.Null(early.PValue);
        var read = ExperimentTests.FixedHorizon(725, 906, 770, 906, Design);
        Assert.Equal(ExperimentVerdict.BBetter, read.Verdict);
        Assert.True(read.PValue < 0.05);
    }
}
