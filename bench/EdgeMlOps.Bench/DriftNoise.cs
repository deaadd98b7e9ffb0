using System.Globalization;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Bench;

/// <summary>
/// How large the normed Wasserstein distance of an unshifted feature gets from sampling and sketching alone, in the
/// drift scenario's shape: a reference merged from devices' training sketches (200 values each), and per window a
/// 30-device and a 70-device cohort of 100 predictions per device drawn from a held-out set, every device sketch
/// compacted to the default policy (level ≥ 1) before the aggregator merges it (k = 200). One "run" is one feature over
/// 16 windows and both cohorts; it prints the tail of the worst score per run and how many runs reach each threshold.
/// Features are mixtures of five unit clusters (spread 1.6, centres in [−2, 2]) like the synthetic dataset.
/// Run: <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- drift-noise [runs]</c>.
/// </summary>
public static class DriftNoise
{
    public static void Run(int runs, TextWriter output)
    {
        output.WriteLine("| held-out rows | reference devices (values) | worst null score p50 / p99 / max | runs ≥ 0.10 | runs ≥ 0.15 |");
        output.WriteLine("|---|---|---|---|---|");
        foreach (var (heldOut, referenceDevices) in new[] { (2_000, 20), (20_000, 20), (20_000, 50), (1_000_000, 50) })
        {
            var worst = Enumerable.Range(0, runs).Select(run => WorstNullScore(new Random(run), heldOut, referenceDevices)).Order().ToArray();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {heldOut:N0} | {referenceDevices} ({referenceDevices * 200:N0}) | {worst[runs / 2]:F3} / {worst[(int)(runs * 0.99)]:F3} / {worst[^1]:F3} | {worst.Count(w => w >= 0.10)} of {runs} | {worst.Count(w => w >= 0.15)} of {runs} |"));
        }
    }

    private static double WorstNullScore(Random random, int heldOut, int referenceDevices)
    {
        var centres = Enumerable.Range(0, 5).Select(_ => random.NextDouble() * 4 - 2).ToArray();
        float Draw() => (float)(centres[random.Next(centres.Length)] + 1.6 * Gaussian(random));
        var traffic = Enumerable.Range(0, heldOut).Select(_ => Draw()).ToArray();
        float Served() => traffic[random.Next(traffic.Length)];

        var reference = new FeatureProfile();
        for (var d = 0; d < referenceDevices; d++) reference.Merge(DeviceSketch(Draw, 200));
        double worst = 0;
        for (var window = 0; window < 16; window++)
        {
            foreach (var devices in new[] { 30, 70 })
            {
                var cohort = new FeatureProfile();
                for (var d = 0; d < devices; d++) cohort.Merge(DeviceSketch(Served, 100));
                worst = Math.Max(worst, DriftStatistics.WassersteinNormed(reference, cohort));
            }
        }

        return worst;
    }

    private static FeatureProfile DeviceSketch(Func<float> next, int values)
    {
        var policy = new SketchPolicy();
        var profile = new FeatureProfile();
        for (var i = 0; i < values; i++) profile.Add(next());
        profile.Sketch.Compact(policy.MinLevel, policy.MaxItems);
        return profile;
    }

    private static double Gaussian(Random random) => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
