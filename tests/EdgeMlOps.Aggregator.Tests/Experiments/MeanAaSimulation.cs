using EdgeMlOps.Aggregator.Experiments;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// Simulated experiments on a mean metric: each arm's observations drawn by a function of the seeded random source,
/// read every <see cref="Look"/> observations per arm by a design's fixed-horizon or sequential test until it decides —
/// how A/A false-positive rates and power are measured for cost and squared-error metrics.
/// </summary>
internal static class MeanAaSimulation
{
    public const int Seeds = 1000;
    public const int Look = 50;

    /// <summary>One experiment on <paramref name="seed"/>: its verdict. Observations are oriented (higher is better).</summary>
    public static ExperimentVerdict Run(Func<Random, double> drawA, Func<Random, double> drawB, ExperimentDesign design, int seed)
    {
        var random = new Random(seed);
        ArmSample a = default, b = default;
        var p = 1.0;
        while (true)
        {
            for (var i = 0; i < Look; i++)
            {
                var x = drawA(random);
                var y = drawB(random);
                a += new ArmSample(1, x, x * x);
                b += new ArmSample(1, y, y * y);
            }

            var reading = design.Mode == ExperimentMode.FixedHorizon ? ExperimentTests.FixedHorizon(a, b, design) : ExperimentTests.Sequential(a, b, design, p);
            p = reading.PValue ?? p;
            if (reading.Verdict != ExperimentVerdict.Wait) return reading.Verdict;
        }
    }

    /// <summary>The share of <see cref="Seeds"/> experiments ending in one of <paramref name="verdicts"/>.</summary>
    public static double Rate(Func<Random, double> drawA, Func<Random, double> drawB, ExperimentDesign design, params ExperimentVerdict[] verdicts) =>
        Enumerable.Range(0, Seeds).Count(seed => verdicts.Contains(Run(drawA, drawB, design, seed))) / (double)Seeds;
}
