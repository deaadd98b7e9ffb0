using System.Globalization;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a front end whose frame count the data decides costs a device (issue #18): PyTorch's trimming
/// (<c>pytorch_frames_trimming.onnx</c>, batch fixed at 1, run scan by scan) against PyTorch's calibration
/// (<c>pytorch_frames_calibration.onnx</c>, run over each length's scans together), both in front of PyTorch's frame
/// classifier, on one device's share of raw 12-bit digit scans (140 scans of 8 readings): a request at batch 1, a
/// training run (1 epoch, batches of 16 — behind the trimming one batch per count of kept frames), scoring the 140
/// (behind the trimming, the model once per count of kept frames), the trimming alone on the 140 (the floor of scoring
/// behind it) and, to compare, the 140 as one request each (the front end and the model scan by scan, as scoring ran
/// before). Timed in 30 alternating rounds so load affects both
/// alike; medians.
/// Run from the repository root: <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- front-end-per-sample</c>.
/// </summary>
public static class FrontEndPerSampleCost
{
    private static readonly string Fixtures = Path.Combine("tests", "EdgeMlOps.Runtime.Tests", "Training", "Fixtures");

    public static void Run(TextWriter output)
    {
        const int Scans = 140;
        var model = File.ReadAllBytes(Path.Combine(Fixtures, "pytorch_digit_frames.onnx"));
        var rows = File.ReadLines(Path.Combine(Fixtures, "digits_tokens.csv")).Take(Scans).Select(l => l.Split(',')).ToArray();
        float[] raw = [.. rows.SelectMany(cells => cells[..64].Select((v, i) => (float.Parse(v, CultureInfo.InvariantCulture) * (200 + (10 * (i % 8)))) + 90 + (5 * (i % 8))))];
        long[] labels = [.. rows.Select(cells => long.Parse(cells[64], CultureInfo.InvariantCulture))];
        int[] lengths = [.. Enumerable.Repeat(64, Scans)];
        var plan = new LocalTrainingPlan(1, 16, 0.5f, 3);

        var timings = new[] { ("pytorch_frames_calibration.onnx", "frames=6..8"), ("pytorch_frames_trimming.onnx", "readings=6..8,frames=1..8") }.Select(p =>
        {
            var front = File.ReadAllBytes(Path.Combine(Fixtures, p.Item1));
            var opened = UploadedClassifier.Open(model, new UploadedClassifierOptions("all") { Preprocess = front, AxisLengths = AxisLengths.Parse(p.Item2), Varying = AxisLengths.Range(p.Item2), Made = AxisLengths.MadeRange(p.Item2) });
            return (Served: InferenceModel.Load(model, opened.Spec, preprocess: front), Trainer: new TrainStepModel(opened.TrainStep!, opened.Spec, preprocess: front), Weights: opened.InitialWeights().Values);
        }).ToArray();
        var samples = timings.Select(_ => (Request: new List<double>(), Train: new List<double>(), Score: new List<double>(), ByScan: new List<double>())).ToArray();
        var scans = Enumerable.Range(0, Scans).Select(i => raw[(i * 64)..((i + 1) * 64)]).ToArray();
        var steps = new int[timings.Length];
        var frontAlone = new List<double>(); // the trimming by itself, scan by scan (what a refusal check runs): the floor of scoring behind it
        for (var round = -3; round < 30; round++)
        {
            for (var k = 0; k < timings.Length; k++)
            {
                var (served, trainer, weights) = timings[k];
                var row = raw.AsSpan((round & 7) * 64, 64).ToArray();
                var request = Timing.Micros(() => served.Predict(row, 1));
                var train = Timing.Micros(() => steps[k] = trainer.TrainLengths(weights, raw, lengths, labels, plan).Steps);
                var score = Timing.Micros(() => served.Evaluate(raw, labels));
                var byScan = Timing.Micros(() =>
                {
                    foreach (var scan in scans) served.Predict(scan, 1);
                });
                if (round < 0) continue; // warm-up
                if (k == 1) frontAlone.Add(Timing.Micros(() =>
                {
                    foreach (var scan in scans) served.RefusalOf(scan);
                }));
                samples[k].Request.Add(request);
                samples[k].Train.Add(train);
                samples[k].Score.Add(score);
                samples[k].ByScan.Add(byScan);
            }
        }

        foreach (var (served, trainer, _) in timings)
        {
            served.Dispose();
            trainer.Dispose();
        }

        output.WriteLine("| 140 raw scans of 8 readings | calibration (each length together) | trimming (scan by scan, frames the data decides) | ratio |");
        output.WriteLine("|---|---|---|---|");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| a request, batch 1 (µs) | {Timing.Median(samples[0].Request):F0} | {Timing.Median(samples[1].Request):F0} | {Timing.Median(samples[1].Request) / Timing.Median(samples[0].Request):F2} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| a training run, 1 epoch, batch 16 (µs; steps) | {Timing.Median(samples[0].Train):F0} ({steps[0]} steps) | {Timing.Median(samples[1].Train):F0} ({steps[1]} steps) | {Timing.Median(samples[1].Train) / Timing.Median(samples[0].Train):F2} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| scoring the 140 (µs) | {Timing.Median(samples[0].Score):F0} | {Timing.Median(samples[1].Score):F0} | {Timing.Median(samples[1].Score) / Timing.Median(samples[0].Score):F2} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| the trimming alone on the 140, scan by scan (µs) | | {Timing.Median(frontAlone):F0} | |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| the 140 as one request each (µs) | {Timing.Median(samples[0].ByScan):F0} | {Timing.Median(samples[1].ByScan):F0} | {Timing.Median(samples[1].ByScan) / Timing.Median(samples[0].ByScan):F2} |"));
    }
}
