using BenchmarkDotNet.Attributes;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>One SGD train step (batch 32) and one inference of an MLP 784-128-10 through ONNX Runtime, one thread.</summary>
[MemoryDiagnoser]
public class TrainingBenchmarks
{
    private static readonly ModelSpec Spec = ModelSpec.Mlp(784, [128], 10);
    private TrainStepModel? _trainer;
    private InferenceModel? _inference;
    private float[] _weights = [];
    private float[] _batch = [];
    private long[] _labels = [];
    private float[] _one = [];

    [GlobalSetup]
    public void Setup()
    {
        var weights = ModelWeights.Initialize(Spec, 1);
        _weights = weights.Values;
        _trainer = TrainStepModel.Build(Spec);
        _inference = InferenceModel.Load(ClassifierGraphs.BuildInference(weights).ToByteArray());
        var random = new Random(2);
        _batch = Enumerable.Range(0, 32 * 784).Select(_ => (float)random.NextDouble()).ToArray();
        _labels = Enumerable.Range(0, 32).Select(i => (long)(i % 10)).ToArray();
        _one = _batch[..784];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _trainer?.Dispose();
        _inference?.Dispose();
    }

    /// <summary>One step = one epoch of one batch of 32 (includes copying the weights in and out).</summary>
    [Benchmark]
    public double TrainStepBatch32() => _trainer!.Train(_weights, _batch, _labels, new LocalTrainingPlan(1, 32, 0.05f, 1)).Loss;

    /// <summary>Ten steps in one call: the per-step cost without the per-call weight copies.</summary>
    [Benchmark]
    public double TenTrainStepsBatch32() => _trainer!.Train(_weights, _batch, _labels, new LocalTrainingPlan(10, 32, 0.05f, 1)).Loss;

    [Benchmark]
    public long PredictOne() => _inference!.Predict(_one, 1).Labels[0];
}
