using System.Globalization;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>
/// Train-step time of the generated graph (<see cref="ClassifierGraphs.BuildTrainStep"/>, reverse-mode over the
/// inference graph) against the hand-written one it replaced, same model, same batches, one session each, timed
/// in alternating rounds so load affects both alike. Prints the median per-step time of each and their ratio.
/// Run: <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- train-step-compare</c>.
/// </summary>
public static class TrainStepCompare
{
    public static void Run(TextWriter output)
    {
        output.WriteLine("| model | batch | hand-built µs/step | generated µs/step | generated / hand-built | graph nodes (hand / generated) |");
        output.WriteLine("|---|---|---|---|---|---|");
        foreach (var (specText, batch) in new[] { ("mlp-784-128-10", 32), ("mlp-784-128-10", 128), ("mlp-32-64-64-4", 32), ("logreg-784-10", 32) })
        {
            var spec = ModelSpecText.Parse(specText);
            var hand = HandBuiltMlpTrainStep.Build(spec);
            var generated = ClassifierGraphs.BuildTrainStep(spec);
            using var handModel = new TrainStepModel(hand.ToByteArray(), spec);
            using var generatedModel = new TrainStepModel(generated.ToByteArray(), spec);
            var weights = ModelWeights.Initialize(spec, seed: 1).Values;
            var random = new Random(2);
            var samples = batch * 20;
            var x = Enumerable.Range(0, samples * spec.InputDim).Select(_ => (float)random.NextDouble()).ToArray();
            var y = Enumerable.Range(0, samples).Select(_ => (long)random.Next(spec.Classes)).ToArray();
            var plan = new LocalTrainingPlan(1, batch, 0.05f, 3);
            var steps = (samples + batch - 1) / batch;
            handModel.Train(weights, x, y, plan);
            generatedModel.Train(weights, x, y, plan);
            var handTimes = new List<double>();
            var generatedTimes = new List<double>();
            for (var round = 0; round < 30; round++)
            {
                handTimes.Add(Timing.Micros(() => handModel.Train(weights, x, y, plan)) / steps);
                generatedTimes.Add(Timing.Micros(() => generatedModel.Train(weights, x, y, plan)) / steps);
            }

            var (h, g) = (Timing.Median(handTimes), Timing.Median(generatedTimes));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {spec} | {batch} | {h:F0} | {g:F0} | {g / h:F2} | {hand.Graph.Node.Count} / {generated.Graph.Node.Count} |"));
        }
    }
}
