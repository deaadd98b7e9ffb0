using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>A tensor fed to a test graph: values (double, whatever the graph's type) and dims, or int64 values.</summary>
internal sealed record Feed(long[] Dims, double[]? Values = null, long[]? Ints = null);

/// <summary>
/// Runs a generated train step in ONNX Runtime: its gradient (one step at learning rate 1 and μ = 0 gives
/// w − ∇) and its loss at perturbed parameters, for central finite differences.
/// </summary>
internal sealed class GradientProbe : IDisposable
{
    private readonly InferenceSession _session;
    private readonly DataType _type;

    public GradientProbe(ModelProto inference, TrainStepOptions options)
    {
        Step = TrainStepGenerator.Generate(inference, options);
        _type = (DataType)inference.Graph.Output.First(o => o.Name == options.Output).Type.TensorType.ElemType;
        _session = new InferenceSession(Step.Model.ToByteArray());
        Parameters = Step.Trained.ToDictionary(n => n, n => Read(inference.Graph.Initializer.First(t => t.Name == n)));
    }

    public GeneratedTrainStep Step { get; }

    /// <summary>The trained parameters' starting values and dims.</summary>
    public Dictionary<string, Feed> Parameters { get; }

    public (double Loss, Dictionary<string, double[]> Gradients) Gradient(Dictionary<string, Feed> inputs)
    {
        var (loss, updated) = Run(Parameters, inputs, learningRate: 1);
        return (loss, Parameters.ToDictionary(p => p.Key, p => p.Value.Values!.Zip(updated[p.Key], (w, n) => w - n).ToArray()));
    }

    public double Loss(Dictionary<string, Feed> parameters, Dictionary<string, Feed> inputs) => Run(parameters, inputs, 0).Loss;

    /// <summary>Central differences of the loss for (up to <paramref name="perTensor"/> sampled) elements of every parameter.</summary>
    public Dictionary<string, (int[] Index, double[] Numeric)> FiniteDifferences(Dictionary<string, Feed> inputs, double h, int perTensor = 24)
    {
        var result = new Dictionary<string, (int[], double[])>();
        var random = new Random(17);
        foreach (var (name, feed) in Parameters)
        {
            var values = feed.Values!;
            var picks = values.Length <= perTensor ? Enumerable.Range(0, values.Length).ToArray() : Enumerable.Range(0, perTensor).Select(_ => random.Next(values.Length)).Distinct().ToArray();
            var numeric = new double[picks.Length];
            for (var k = 0; k < picks.Length; k++)
            {
                var probe = values.ToArray();
                probe[picks[k]] += h;
                var plus = Loss(With(name, probe), inputs);
                probe[picks[k]] -= 2 * h;
                var minus = Loss(With(name, probe), inputs);
                numeric[k] = (plus - minus) / (2 * h);
            }

            result[name] = (picks, numeric);
        }

        return result;

        Dictionary<string, Feed> With(string name, double[] values) =>
            Parameters.ToDictionary(p => p.Key, p => p.Key == name ? p.Value with { Values = values } : p.Value);
    }

    /// <summary>‖analytic − numeric‖ / ‖numeric‖ over every sampled element.</summary>
    public double RelativeError(Dictionary<string, Feed> inputs, double h)
    {
        var analytic = Gradient(inputs).Gradients;
        double diff = 0, norm = 0;
        foreach (var (name, (index, numeric)) in FiniteDifferences(inputs, h))
        {
            for (var k = 0; k < index.Length; k++)
            {
                diff += Math.Pow(analytic[name][index[k]] - numeric[k], 2);
                norm += numeric[k] * numeric[k];
            }
        }

        Assert.True(norm > 1e-12, "the gradient should not vanish on the probe data");
        return Math.Sqrt(diff / norm);
    }

    private (double Loss, Dictionary<string, double[]> Updated) Run(Dictionary<string, Feed> parameters, Dictionary<string, Feed> inputs, double learningRate)
    {
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (name, feed) in parameters)
            {
                Bind(name, feed);
                Bind(ClassifierGraphs.AnchorName(name), feed);
            }

            foreach (var (name, feed) in inputs) Bind(name, feed);
            Bind(ClassifierGraphs.LearningRateInput, new Feed([], [learningRate]));
            Bind(ClassifierGraphs.ProximalMuInput, new Feed([], [0]));
            var outputNames = parameters.Keys.Select(ClassifierGraphs.UpdatedName).Append(ClassifierGraphs.LossOutput).ToArray();
            using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
            using var results = _session.Run(runOptions, names, values, outputNames);
            var updated = parameters.Keys.Select((n, i) => (n, Values: ReadOutput(results[i]))).ToDictionary(p => p.n, p => p.Values);
            return (ReadOutput(results[^1])[0], updated);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }

        void Bind(string name, Feed feed)
        {
            names.Add(name);
            values.Add(feed.Ints is not null
                ? OrtValue.CreateTensorValueFromMemory(feed.Ints, feed.Dims)
                : _type == DataType.Double
                    ? OrtValue.CreateTensorValueFromMemory(feed.Values!.ToArray(), feed.Dims)
                    : OrtValue.CreateTensorValueFromMemory(feed.Values!.Select(v => (float)v).ToArray(), feed.Dims));
        }
    }

    private double[] ReadOutput(OrtValue value) => _type == DataType.Double
        ? value.GetTensorDataAsSpan<double>().ToArray()
        : value.GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray();

    private static Feed Read(TensorProto tensor)
    {
        double[] values = (DataType)tensor.DataType switch
        {
            DataType.Double when tensor.DoubleData.Count > 0 => [.. tensor.DoubleData],
            DataType.Double => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(tensor.RawData.Span).ToArray(),
            _ when tensor.FloatData.Count > 0 => [.. tensor.FloatData.Select(v => (double)v)],
            _ => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray().Select(v => (double)v).ToArray(),
        };
        return new Feed([.. tensor.Dims], values);
    }

    public void Dispose() => _session.Dispose();
}
