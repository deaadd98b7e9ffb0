using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>
/// The ONNX Runtime session of a declared preprocessing graph (<see cref="TensorPreprocess"/>): opened only on the
/// declared file (its sha256), checked to take exactly the declared inputs and make the declared outputs, and run as
/// it is in front of the model — when serving, and before a classifier's train steps.
/// </summary>
internal sealed class PreprocessSession : IDisposable
{
    private PreprocessSession(InferenceSession session, TensorPreprocess declared)
    {
        Session = session;
        Declared = declared;
    }

    public InferenceSession Session { get; }

    public TensorPreprocess Declared { get; }

    /// <summary>The session, or null when nothing is declared; throws <see cref="InvalidDataException"/> for missing, other or misfit bytes.</summary>
    public static PreprocessSession? Open(TensorPreprocess? declared, byte[]? bytes, OrtSessionSettings settings)
    {
        if (declared is null) return bytes is null ? null : throw new InvalidDataException("a preprocessing graph was given, but the interface declares none");
        if (bytes is null || ContentHash.Sha256Hex(bytes) != declared.Sha256)
            throw new InvalidDataException(bytes is null ? $"the preprocessing graph {declared.Sha256} is missing" : $"the preprocessing graph is not the declared {declared.Sha256}");
        var session = OrtSessions.Open(bytes, settings).Session;
        var problems = new List<string>();
        foreach (var input in declared.Inputs)
        {
            if (!session.InputMetadata.TryGetValue(input.Name, out var actual)) problems.Add($"no input '{input.Name}'");
            else if (!actual.IsTensor || actual.ElementDataType != InferenceModel.ElementType(input.Type) || actual.Dimensions.Length != input.Dims.Count) problems.Add($"input '{input.Name}' is not {input.CanonicalText}");
        }

        problems.AddRange(declared.Outputs.Where(o => !session.OutputMetadata.ContainsKey(o)).Select(o => $"no output '{o}'"));
        problems.AddRange(session.InputMetadata.Keys.Where(k => declared.Inputs.All(i => i.Name != k)).Select(k => $"input '{k}' is not declared"));
        if (problems.Count == 0) return new PreprocessSession(session, declared);
        session.Dispose();
        throw new InvalidDataException("the preprocessing graph is not the declared one: " + string.Join("; ", problems));
    }

    /// <summary>Runs the graph on <paramref name="inputs"/> (by name) and returns its declared outputs, in order; the caller disposes them.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyList<string> names, IReadOnlyList<OrtValue> inputs)
    {
        using var options = new RunOptions();
        return Session.Run(options, names, inputs, Declared.Outputs);
    }

    /// <summary>
    /// A classifier's samples (row-major, each of the front end's one input's sample dims) through the graph, in chunks:
    /// its one output row-major, <paramref name="featureLength"/> floats per sample.
    /// </summary>
    public float[] Features(float[] samples, int count, int featureLength, int chunk = 256)
    {
        var input = Declared.Inputs[0];
        var sampleDims = input.Dims.Skip(1).ToArray();
        var sampleLength = checked((int)sampleDims.Aggregate(1L, (a, d) => a * d));
        var features = new float[checked(count * featureLength)];
        for (var start = 0; start < count; start += chunk)
        {
            var rows = Math.Min(chunk, count - start);
            using var raw = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, samples.AsMemory(start * sampleLength, rows * sampleLength), [rows, .. sampleDims]);
            using var made = Run([input.Name], [raw]);
            var values = made[0].GetTensorDataAsSpan<float>();
            if (values.Length != rows * featureLength) throw new InvalidDataException($"the preprocessing graph made {values.Length / rows} values per sample; the model's features input takes {featureLength}");
            values.CopyTo(features.AsSpan(start * featureLength, rows * featureLength));
        }

        return features;
    }

    public void Dispose() => Session.Dispose();
}
