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

/// <summary>One reading of an A/B test: the two accuracies, the statistic, its p-value (always-valid for the sequential test) and the verdict.</summary>
public sealed record ExperimentReading(long LabelledA, long CorrectA, long LabelledB, long CorrectB, long Horizon, double? AccuracyA, double? AccuracyB, double? Z, double? PValue, ExperimentVerdict Verdict);

/// <summary>
/// The two tests of an A/B experiment on accuracy, both pure. Fixed horizon: a two-sided z-test on the difference of
/// two proportions, read only once both arms have the design's sample size (reading it earlier and stopping on the
/// first significant look inflates false positives; <c>ExperimentStatisticsTests</c> shows by how much). Sequential: the
/// mixture sequential probability ratio test (mSPRT, Johari, Pekelis &amp; Walsh, "Always valid inference", 2017) on the
/// same difference, with a normal mixture of variance τ² over the effect: its p-value is valid at every look, so the
/// test can be read at every check and stop as soon as it crosses α; it is truncated at twice the fixed horizon
/// (<see cref="ExperimentDesign.HorizonPerArm"/>).
/// </summary>
public static class ExperimentTests
{
    /// <summary>The fixed-horizon test: waits until both arms have <see cref="ExperimentDesign.SampleSizePerArm"/> labels, then reads once.</summary>
    public static ExperimentReading FixedHorizon(long correctA, long labelledA, long correctB, long labelledB, ExperimentDesign design)
    {
        var horizon = design.SampleSizePerArm();
        var (z, variance) = Statistic(correctA, labelledA, correctB, labelledB);
        if (labelledA < horizon || labelledB < horizon || variance is not > 0)
        {
            return Reading(correctA, labelledA, correctB, labelledB, horizon, null, null, ExperimentVerdict.Wait);
        }

        var p = 2 * (1 - SpecialFunctions.NormalCdf(Math.Abs(z)));
        var verdict = p >= design.Alpha ? ExperimentVerdict.NoDifference : z > 0 ? ExperimentVerdict.BBetter : ExperimentVerdict.BWorse;
        return Reading(correctA, labelledA, correctB, labelledB, horizon, z, p, verdict);
    }

    /// <summary>
    /// The sequential test at one look: the mSPRT likelihood ratio Λ = √(V/(V+τ²))·exp(θ̂²τ²/(2V(V+τ²))) for the
    /// difference θ̂ = accuracy B − accuracy A with variance V; the always-valid p-value is min(1, 1/Λ), kept as the
    /// running minimum by the caller through <paramref name="previousP"/>. τ² is the variance the design's minimum
    /// detectable effect implies (τ = MDE), which concentrates the test's power where the design wants it.
    /// </summary>
    public static ExperimentReading Sequential(long correctA, long labelledA, long correctB, long labelledB, ExperimentDesign design, double previousP = 1)
    {
        var horizon = (design with { Mode = ExperimentMode.Sequential }).HorizonPerArm();
        var (z, variance) = Statistic(correctA, labelledA, correctB, labelledB);
        if (labelledA < 2 || labelledB < 2 || variance is not > 0)
        {
            return Reading(correctA, labelledA, correctB, labelledB, horizon, null, previousP, ExperimentVerdict.Wait);
        }

        var difference = (double)correctB / labelledB - (double)correctA / labelledA;
        var tau2 = design.MinDetectableEffect * design.MinDetectableEffect;
        var logLambda = 0.5 * Math.Log(variance / (variance + tau2)) + difference * difference * tau2 / (2 * variance * (variance + tau2));
        var p = Math.Min(previousP, Math.Min(1, Math.Exp(-logLambda)));
        var verdict = p < design.Alpha ? (difference > 0 ? ExperimentVerdict.BBetter : ExperimentVerdict.BWorse)
            : labelledA >= horizon && labelledB >= horizon ? ExperimentVerdict.NoDifference
            : ExperimentVerdict.Wait;
        return Reading(correctA, labelledA, correctB, labelledB, horizon, z, p, verdict);
    }

    /// <summary>The z statistic of (B − A) and its unpooled variance (0 when either arm is empty or has no spread yet).</summary>
    private static (double Z, double Variance) Statistic(long correctA, long labelledA, long correctB, long labelledB)
    {
        if (labelledA <= 0 || labelledB <= 0) return (0, 0);
        var pa = (double)correctA / labelledA;
        var pb = (double)correctB / labelledB;
        var variance = pa * (1 - pa) / labelledA + pb * (1 - pb) / labelledB;
        return variance > 0 ? ((pb - pa) / Math.Sqrt(variance), variance) : (0, 0);
    }

    private static ExperimentReading Reading(long correctA, long labelledA, long correctB, long labelledB, long horizon, double? z, double? p, ExperimentVerdict verdict) =>
        new(labelledA, correctA, labelledB, correctB, horizon,
            labelledA > 0 ? (double)correctA / labelledA : null, labelledB > 0 ? (double)correctB / labelledB : null, z, p, verdict);
}
