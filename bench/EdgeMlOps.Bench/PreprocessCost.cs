using System.Globalization;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a preprocessing graph in front of a classifier costs a device: PyTorch's log-mel front end before PyTorch's
/// keyword CNN (raw audio, 8,192 samples per request) against the CNN alone fed the 1,280 features the front end
/// would make — a request at batch 1, and a training run (64 samples, 1 epoch, batch 16: the front end runs once over
/// the samples, then the steps). Timed in 30 alternating rounds so load affects both alike; medians.
/// Run from the repository root: <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- preprocess-cost</c>.
/// </summary>
public static class PreprocessCost
{
    private static readonly string Fixtures = Path.Combine("tests", "EdgeMlOps.Runtime.Tests", "Training", "Fixtures");

    public static void Run(TextWriter output)
    {
        var kws = File.ReadAllBytes(Path.Combine(Fixtures, "pytorch_kws_1d.onnx"));
        var front = File.ReadAllBytes(Path.Combine(Fixtures, "pytorch_mel_frontend.onnx"));
        var fronted = UploadedClassifier.Open(kws, new UploadedClassifierOptions("last:1") { Preprocess = front });
        var plain = UploadedClassifier.Open(kws, new UploadedClassifierOptions("last:1"));
        using var servedFronted = InferenceModel.Load(kws, fronted.Spec, preprocess: front);
        using var servedPlain = InferenceModel.Load(kws, plain.Spec);
        using var trainFronted = new TrainStepModel(fronted.TrainStep!, fronted.Spec, preprocess: front);
        using var trainPlain = new TrainStepModel(plain.TrainStep!, plain.Spec);

        const int Samples = 64;
        var random = new Random(4);
        var waves = new float[Samples * 8192];
        for (var s = 0; s < Samples; s++)
        {
            var (f, phase) = (200 + (random.NextDouble() * 3000), random.NextDouble() * Math.PI);
            for (var n = 0; n < 8192; n++) waves[(s * 8192) + n] = (float)(0.5 * Math.Sin((2 * Math.PI * f * n / 8000.0) + phase));
        }

        var features = FeaturesOf(front, waves, Samples);
        var labels = Enumerable.Range(0, Samples).Select(i => (long)(i % 5)).ToArray();
        var plan = new LocalTrainingPlan(1, 16, 0.05f, 3);
        var weights = fronted.InitialWeights().Values;
        var (requestF, requestP, trainF, trainP) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
        for (var round = -3; round < 30; round++)
        {
            var row = round & 7;
            var tf = Timing.Micros(() => servedFronted.Predict(waves.AsSpan(row * 8192, 8192).ToArray(), 1));
            var tp = Timing.Micros(() => servedPlain.Predict(features.AsSpan(row * 1280, 1280).ToArray(), 1));
            var sf = Timing.Micros(() => trainFronted.Train(weights, waves, labels, plan));
            var sp = Timing.Micros(() => trainPlain.Train(weights, features, labels, plan));
            if (round < 0) continue; // warm-up
            (requestF, requestP, trainF, trainP) = ([.. requestF, tf], [.. requestP, tp], [.. trainF, sf], [.. trainP, sp]);
        }

        output.WriteLine("| | the CNN on mel features (1,280 values) | front end + CNN on raw audio (8,192 values) | ratio |");
        output.WriteLine("|---|---|---|---|");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| a request, batch 1 (µs) | {Timing.Median(requestP):F0} | {Timing.Median(requestF):F0} | {Timing.Median(requestF) / Timing.Median(requestP):F2} |"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| a training run, 64 samples, 4 steps (µs) | {Timing.Median(trainP):F0} | {Timing.Median(trainF):F0} | {Timing.Median(trainF) / Timing.Median(trainP):F2} |"));
    }

    /// <summary>The front end's features of the waves (as a device would have to compute them without it), from the front end's own file.</summary>
    internal static float[] FeaturesOf(byte[] front, float[] waves, int count)
    {
        var spec = UploadedClassifier.OpenTensors(front, []).Spec;
        using var model = InferenceModel.Load(front, spec);
        return (float[])model.Run([new NamedTensor("wave", EdgeMlOps.Shared.Models.TensorElement.Float, [count, 8192], waves)]).Single().Data;
    }
}
