using System.Runtime.InteropServices;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using EdgeMlOps.Simulator.Data;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Simulator.FineTuning;

/// <summary>Held-out accuracy after a federated round, and the devices' mean training loss in it.</summary>
public sealed record FineTuneRound(int Round, double Accuracy, double TrainLoss);

/// <summary>The outcome of <see cref="FederatedFineTuning.Run"/>.</summary>
public sealed record FineTuneResult(IReadOnlyList<string> Trained, int TrainedValues, int Devices, int FleetSamples, int TestSamples, double InitialAccuracy, IReadOnlyList<FineTuneRound> Rounds);

/// <summary>
/// Federated fine-tuning of an uploaded ONNX classifier through its generated train step, in one process: the chosen
/// parameters train on each device's shard (TrainStepModel over the graph <see cref="TrainStepGenerator"/> writes),
/// the round's result is the sample-weighted mean (FedAvg, <see cref="StreamingWeightedSum"/>), and accuracy is read
/// by running the user's own graph with the averaged tensors in ONNX Runtime. Devices here are data shards, not
/// agents: a library-level reference for the same fine-tuning run by real agents (<c>--model-file</c>).
/// </summary>
public static class FederatedFineTuning
{
    /// <summary>Which part of MNIST a row belongs to, from its index within its digit (the rule the backbone's training script uses): 0–11 of every 20 pre-training, 12–16 fleet, 17–19 test.</summary>
    public static (Dataset Fleet, Dataset Test) SplitMnist(Dataset mnist)
    {
        var fleet = new List<int>();
        var test = new List<int>();
        var seen = new int[mnist.Classes];
        for (var i = 0; i < mnist.Count; i++)
        {
            var slot = seen[mnist.Labels[i]]++ % 20;
            if (slot is >= 12 and <= 16) fleet.Add(i);
            else if (slot >= 17) test.Add(i);
        }

        return (mnist.Subset(fleet, "mnist-fleet"), mnist.Subset(test, "mnist-test"));
    }

    public static FineTuneResult Run(byte[] modelBytes, IReadOnlyList<string> trainable, long[] sampleDims, Dataset fleet, Dataset test,
        int devices, int rounds, LocalTrainingPlan plan, int seed, Action<FineTuneRound>? progress = null)
    {
        var model = ClassifierGraphs.Parse(modelBytes);
        var step = TrainStepGenerator.Generate(model, new TrainStepOptions(ClassifierGraphs.ProbabilitiesOutput, TrainingLoss.SoftmaxCrossEntropy) { Trainable = trainable });
        var layout = step.Layout;
        var global = step.InitialValues(model);

        using var trainer = new TrainStepModel(step.Model.ToByteArray(), layout, ClassifierGraphs.FeaturesInput, sampleDims);
        var order = Enumerable.Range(0, fleet.Count).ToArray();
        new Random(seed).Shuffle(order);
        var shards = Enumerable.Range(0, devices).Select(d => fleet.Subset(order.Where((_, i) => i % devices == d).ToArray())).ToArray();

        var initial = Accuracy(model, layout, global, test, sampleDims);
        var curve = new List<FineTuneRound>();
        for (var round = 1; round <= rounds; round++)
        {
            var sum = new StreamingWeightedSum(layout.TotalLength);
            double loss = 0;
            for (var d = 0; d < devices; d++)
            {
                var result = trainer.Train(global, shards[d].Features, shards[d].Labels, plan with { Seed = seed + 1000 * round + d });
                sum.Add(result.Weights, shards[d].Count);
                loss += result.Loss * shards[d].Count;
            }

            global = sum.Mean();
            var point = new FineTuneRound(round, Accuracy(model, layout, global, test, sampleDims), loss / fleet.Count);
            curve.Add(point);
            progress?.Invoke(point);
        }

        return new FineTuneResult(step.Trained, layout.TotalLength, devices, fleet.Count, test.Count, initial, curve);
    }

    /// <summary>Accuracy of the user's graph with the trained tensors replaced, run as it is in ONNX Runtime.</summary>
    private static double Accuracy(ModelProto model, ParameterLayout layout, float[] weights, Dataset test, long[] sampleDims)
    {
        var copy = model.Clone();
        foreach (var tensor in copy.Graph.Initializer)
        {
            if (!layout.TryGet(tensor.Name, out var slot)) continue;
            tensor.FloatData.Clear();
            tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(weights.AsSpan(slot.Offset, slot.Length)));
        }

        using var session = new InferenceSession(copy.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(test.Features, [test.Count, .. sampleDims]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = session.Run(runOptions, [ClassifierGraphs.FeaturesInput], [input], [ClassifierGraphs.LabelOutput]);
        var labels = outputs[0].GetTensorDataAsSpan<long>();
        var hits = 0;
        for (var i = 0; i < test.Count; i++) if (labels[i] == test.Labels[i]) hits++;
        return (double)hits / test.Count;
    }
}
