using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>What an A/B test says about arm B (the new version) against arm A (the served one).</summary>
public enum ExperimentVerdict
{
    /// <summary>Not enough labelled predictions to read the result (fixed horizon) or no boundary crossed yet (sequential).</summary>
    Wait,

    /// <summary>B is more accurate, significantly.</summary>
    BBetter,

    /// <summary>B is less accurate, significantly: the losing variant stops.</summary>
    BWorse,

    /// <summary>The horizon was reached without a significant difference: none as large as the minimum detectable effect is likely.</summary>
    NoDifference,
}

/// <summary>One reading of an A/B test: the two arms' means (accuracies, shares or costs, oriented so higher is better), the statistic, its p-value (always-valid for the sequential test) and the verdict.</summary>
public sealed record ExperimentReading(long LabelledA, long CorrectA, long LabelledB, long CorrectB, long Horizon, double? AccuracyA, double? AccuracyB, double? Z, double? PValue, ExperimentVerdict Verdict);

/// <summary>
/// The two tests of an A/B experiment on a proportion (accuracy, a share) or a mean (a cost), both pure. Fixed horizon:
/// a two-sided z-test on the difference of the two arms' means (proportions are means of 0/1 outcomes), read only once both arms have the design's sample size (reading it earlier and stopping on the
/// first significant look inflates false positives; <c>ExperimentStatisticsTests</c> shows by how much). Sequential: the
/// mixture sequential probability ratio test (mSPRT, Johari, Pekelis &amp; Walsh, "Always valid inference", 2017) on the
/// same difference, with a normal mixture of variance τ² over the effect: its p-value is valid at every look, so the
/// test can be read at every check and stop as soon as it crosses α; it is truncated at twice the fixed horizon
/// (<see cref="ExperimentDesign.HorizonPerArm"/>).
/// </summary>
public static class ExperimentTests
{
    /// <summary>The fixed-horizon test on two proportions (successes of trials per arm).</summary>
    public static ExperimentReading FixedHorizon(long correctA, long labelledA, long correctB, long labelledB, ExperimentDesign design) =>
        FixedHorizon(ArmSample.Proportion(correctA, labelledA), ArmSample.Proportion(correctB, labelledB), design);

    /// <summary>The fixed-horizon test: waits until both arms have <see cref="ExperimentDesign.SampleSizePerArm"/> observations, then reads once.</summary>
    public static ExperimentReading FixedHorizon(ArmSample a, ArmSample b, ExperimentDesign design)
    {
        var horizon = design.SampleSizePerArm();
        var (z, variance) = Statistic(a, b);
        if (a.N < horizon || b.N < horizon || variance is not > 0)
        {
            return Reading(a, b, horizon, null, null, ExperimentVerdict.Wait);
        }

        // Arms of clusters (devices randomised): the variance is estimated from few devices, so z is read against Student's
        // t with the smaller arm's devices − 1 degrees of freedom (conservative); otherwise against the normal.
        var p = a.Clusters > 1 && b.Clusters > 1
            ? SpecialFunctions.StudentTTwoSided(z, Math.Min(a.Clusters, b.Clusters) - 1)
            : 2 * (1 - SpecialFunctions.NormalCdf(Math.Abs(z)));
        var verdict = p >= design.Alpha ? ExperimentVerdict.NoDifference : z > 0 ? ExperimentVerdict.BBetter : ExperimentVerdict.BWorse;
        return Reading(a, b, horizon, z, p, verdict);
    }

    /// <summary>The sequential test on two proportions (successes of trials per arm).</summary>
    public static ExperimentReading Sequential(long correctA, long labelledA, long correctB, long labelledB, ExperimentDesign design, double previousP = 1) =>
        Sequential(ArmSample.Proportion(correctA, labelledA), ArmSample.Proportion(correctB, labelledB), design, previousP);

    /// <summary>
    /// The sequential test at one look: the mSPRT likelihood ratio Λ = √(V/(V+τ²))·exp(θ̂²τ²/(2V(V+τ²))) for the
    /// difference θ̂ = mean B − mean A with variance V; the always-valid p-value is min(1, 1/Λ), kept as the
    /// running minimum by the caller through <paramref name="previousP"/>. τ² is the variance the design's minimum
    /// detectable effect implies (τ = MDE), which concentrates the test's power where the design wants it.
    /// </summary>
    public static ExperimentReading Sequential(ArmSample a, ArmSample b, ExperimentDesign design, double previousP = 1)
    {
        var horizon = (design with { Mode = ExperimentMode.Sequential }).HorizonPerArm();
        var (z, variance) = Statistic(a, b);
        if (a.N < 2 || b.N < 2 || variance is not > 0)
        {
            return Reading(a, b, horizon, null, previousP, ExperimentVerdict.Wait);
        }

        var difference = b.Mean!.Value - a.Mean!.Value;
        var tau2 = design.MinDetectableEffect * design.MinDetectableEffect;
        var logLambda = 0.5 * Math.Log(variance / (variance + tau2)) + difference * difference * tau2 / (2 * variance * (variance + tau2));
        var p = Math.Min(previousP, Math.Min(1, Math.Exp(-logLambda)));
        var verdict = p < design.Alpha ? (difference > 0 ? ExperimentVerdict.BBetter : ExperimentVerdict.BWorse)
            : a.N >= horizon && b.N >= horizon ? ExperimentVerdict.NoDifference
            : ExperimentVerdict.Wait;
        return Reading(a, b, horizon, z, p, verdict);
    }

    /// <summary>The z statistic of (B − A) and its unpooled variance (0 when either arm is empty or has no spread yet).</summary>
    private static (double Z, double Variance) Statistic(ArmSample a, ArmSample b)
    {
        if (a.N <= 0 || b.N <= 0) return (0, 0);
        var variance = a.VarianceOfMean + b.VarianceOfMean;
        return variance > 0 ? ((b.Mean!.Value - a.Mean!.Value) / Math.Sqrt(variance), variance) : (0, 0);
    }

    /// <summary>A reading; for a mean the "correct" counts are the arms' rounded sums.</summary>
    private static ExperimentReading Reading(ArmSample a, ArmSample b, long horizon, double? z, double? p, ExperimentVerdict verdict) =>
        new(a.N, (long)Math.Round(a.Sum), b.N, (long)Math.Round(b.Sum), horizon, a.Mean, b.Mean, z, p, verdict);
}
