using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>Why an uploaded model was refused; the message says what is wrong with the file.</summary>
public sealed class UploadRefusedException(string message) : Exception(message);

/// <summary>
/// Admits an uploaded inference graph only when the graph the fleet would serve computes the same
/// function. The registry stores a version as its weights and serves the dense classifier it
/// rebuilds from them; a file that merely carries the expected metadata and initializer names
/// (a PyTorch export with LayerNorm layers, say) would otherwise be silently replaced by a
/// different function. Both graphs run in ONNX Runtime on fixed probe inputs; any difference
/// beyond float rounding refuses the upload and names the operators the rebuilt graph lacks.
/// </summary>
public static class UploadedGraphCheck
{
    /// <summary>Largest difference of a probability tolerated between the two graphs (float rounding, Gemm vs MatMul+Add).</summary>
    public const float Tolerance = 1e-4f;

    /// <summary>Probe rows; each scale is run on the same standard-normal rows.</summary>
    public const int ProbeRows = 64;

    private static readonly float[] Scales = [0.1f, 1f, 10f];

    /// <summary>
    /// A new version of a fleet that serves an uploaded graph: the same file with new values in the trained tensors
    /// only, so what is registered is served byte for byte. Anything else is refused, saying what differs.
    /// </summary>
    public static ModelWeights AdmitVersionOf(UploadedClassifier source, byte[] uploaded)
    {
        ModelWeights weights;
        try
        {
            weights = ModelArtifacts.ReadWeights(uploaded, source.Spec);
        }
        catch (InvalidDataException ex)
        {
            throw new UploadRefusedException($"this fleet serves the uploaded graph {source.Spec.Graph!.SourceSha256}; the file does not carry its trained tensors ({ex.Message}). A different graph is a new model (see docs/MODELS.md).");
        }

        if (!SameGraphApartFromTrained(source, uploaded))
            throw new UploadRefusedException($"the file differs from the fleet's graph {source.Spec.Graph!.SourceSha256} beyond the values of its trained tensors ({string.Join(", ", source.Spec.Graph.Trained.Select(t => t.Name))}); only those may change between versions, so what is registered is served byte for byte. Write new values into the registry's own artifact (GET the deployed version's inference artifact), or register a different graph as a new model.");
        return weights;
    }

    /// <summary>
    /// Whether <paramref name="uploaded"/> is the fleet's graph with nothing changed but its trained tensors' values,
    /// compared as ONNX messages, not as bytes: the tool that wrote the new values (Python's onnx package, another
    /// protobuf library) need not serialize what it did not touch as this process would.
    /// </summary>
    private static bool SameGraphApartFromTrained(UploadedClassifier source, byte[] uploaded)
    {
        var trained = source.Spec.Graph!.Trained.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var (fleets, theirs) = (ClassifierGraphs.Parse(source.Bytes), ClassifierGraphs.Parse(uploaded));
        foreach (var tensor in fleets.Graph.Initializer.Concat(theirs.Graph.Initializer).Where(t => trained.Contains(t.Name)))
        {
            tensor.FloatData.Clear();
            tensor.RawData = ByteString.Empty;
        }

        return fleets.Equals(theirs);
    }

    /// <summary>The weights to register, or <see cref="UploadRefusedException"/> saying why not.</summary>
    public static ModelWeights Admit(byte[] uploaded)
    {
        ModelProto graph;
        ModelWeights weights;
        try
        {
            graph = ClassifierGraphs.Parse(uploaded);
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // Anything the parser trips over in an uploaded file is the uploader's problem to fix.
            throw new UploadRefusedException($"body is not an EdgeMlOps classifier ONNX model: {ex.Message} (see docs/MODELS.md)");
        }

        if (OnnxModelCheck.Problems(graph) is { Count: > 0 } problems)
            throw new UploadRefusedException("the uploaded file is not a well-formed ONNX model: " + string.Join("; ", problems));
        try
        {
            weights = ClassifierGraphs.ReadWeights(graph);
        }
        catch (InvalidDataException ex)
        {
            throw new UploadRefusedException($"the fleet serves dense classifiers with '{ClassifierGraphs.SpecMetadataKey}' metadata today, and this model is not one ({ex.Message}). " +
                $"It is: inputs {Interface(graph.Graph.Input.Where(i => graph.Graph.Initializer.All(t => t.Name != i.Name)))}; outputs {Interface(graph.Graph.Output)}; " +
                $"operators {string.Join(", ", OnnxModelCheck.OpHistogram(graph).Select(p => $"{p.Op} ×{p.Count}"))}. " +
                "This fleet serves a generated dense classifier; to serve this file byte for byte and fine-tune it, run a fleet with Aggregator:Model=onnx:FILE (`edgemlops models check FILE` shows what it would fine-tune; see docs/MODELS.md).");
        }

        var rebuilt = ClassifierGraphs.BuildInference(weights);
        var difference = MaxDifference(uploaded, rebuilt.ToByteArray(), weights.Spec);
        if (difference > Tolerance)
        {
            var extra = OpsBeyondDense(graph);
            throw new UploadRefusedException(
                $"the uploaded graph is not the dense classifier '{weights.Spec}' its metadata declares: on probe inputs its probabilities differ by up to {difference:0.####} " +
                $"from the graph EdgeMlOps would serve{(extra.Length > 0 ? $" (operators a dense classifier does not have: {extra})" : string.Empty)}. " +
                "Refused rather than served as a different function (see docs/MODELS.md).");
        }

        return weights;
    }

    private static string Interface(IEnumerable<ValueInfoProto> values) => string.Join(", ", values.Select(v => $"{v.Name} {OnnxModelCheck.Describe(v)}"));

    private static float MaxDifference(byte[] uploaded, byte[] rebuilt, ModelSpec spec)
    {
        using var original = Open(uploaded);
        using var served = InferenceModel.Load(rebuilt);
        var rows = ProbeInputs(ProbeRows, spec.InputDim);
        var worst = 0f;
        foreach (var scale in Scales)
        {
            var scaled = Array.ConvertAll(rows, v => v * scale);
            PredictionBatch a;
            try
            {
                a = original.Predict(scaled, ProbeRows);
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException ex)
            {
                throw new UploadRefusedException($"the uploaded graph does not run as a classifier ('{ClassifierGraphs.FeaturesInput}' [batch, {spec.InputDim}] in; '{ClassifierGraphs.ProbabilitiesOutput}' and '{ClassifierGraphs.LabelOutput}' out): {ex.Message}");
            }

            var b = served.Predict(scaled, ProbeRows);
            for (var i = 0; i < a.Probabilities.Length; i++)
            {
                var d = Math.Abs(a.Probabilities[i] - b.Probabilities[i]);
                if (!(d <= worst)) worst = float.IsNaN(d) ? float.PositiveInfinity : d;
            }
        }

        return worst;
    }

    private static InferenceModel Open(byte[] uploaded)
    {
        try
        {
            return InferenceModel.Load(uploaded);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException ex)
        {
            throw new UploadRefusedException($"ONNX Runtime cannot load the uploaded graph: {ex.Message}");
        }
    }

    /// <summary>Standard-normal rows from a fixed seed: the same probes for every upload.</summary>
    internal static float[] ProbeInputs(int rows, int dim)
    {
        var random = new Random(20_260_101);
        var values = new float[rows * dim];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        }

        return values;
    }

    /// <summary>Operators exporters emit for a dense classifier; any other one is named in a refusal.</summary>
    private static readonly HashSet<string> DenseOps = new(StringComparer.Ordinal)
    {
        "Gemm", "MatMul", "Add", "Relu", "Softmax", "ArgMax", "Identity", "Constant", "Cast", "Flatten", "Reshape", "Shape", "Gather", "Unsqueeze", "Concat",
    };

    private static string OpsBeyondDense(ModelProto uploaded) =>
        string.Join(", ", uploaded.Graph.Node.Select(n => n.OpType).Where(op => !DenseOps.Contains(op))
            .GroupBy(op => op, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} ×{g.Count()}"));
}
