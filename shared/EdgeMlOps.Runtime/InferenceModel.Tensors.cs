using EdgeMlOps.Shared.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeMlOps.Runtime;

/// <summary>The tensor path of an uploaded model that is not a classifier: inputs and outputs by name, as declared.</summary>
public sealed partial class InferenceModel
{
    /// <summary>The session of the declared preprocessing graph, or null.</summary>
    private readonly PreprocessSession? _preprocess;

    /// <summary>The declared tensors, or null for a classifier.</summary>
    public TensorInterface? Tensors => Spec.Graph?.Tensors;

    /// <summary>Refuses a file whose inputs or outputs are not the ones the signed interface declares.</summary>
    private static void CheckDeclared(InferenceSession session, TensorInterface tensors)
    {
        var problems = new List<string>();
        foreach (var (declared, metadata, role) in tensors.Inputs.Select(t => (t, session.InputMetadata, "input")).Concat(tensors.Outputs.Select(t => (t, session.OutputMetadata, "output"))))
        {
            if (!metadata.TryGetValue(declared.Name, out var actual)) problems.Add($"no {role} '{declared.Name}'");
            else if (!actual.IsTensor || actual.ElementDataType != ElementType(declared.Type)) problems.Add($"{role} '{declared.Name}' is {actual.ElementDataType}, declared {declared.Type}");
            else if (actual.Dimensions.Length != declared.Dims.Count) problems.Add($"{role} '{declared.Name}' has {actual.Dimensions.Length} axes, declared {declared.Dims.Count}");
        }

        if (tensors.Embedding is { } embedding && (!session.OutputMetadata.TryGetValue(embedding.Name, out var read) || !read.IsTensor || read.ElementDataType != TensorElementType.Float))
            problems.Add($"the embedding '{embedding.Name}' is not a float tensor the graph computes");
        if (session.InputMetadata.Keys.FirstOrDefault(name => tensors.Inputs.All(t => t.Name != name)) is { } undeclared) problems.Add($"input '{undeclared}' is not declared");
        if (problems.Count > 0) throw new InvalidDataException("the graph is not the declared one: " + string.Join("; ", problems));
    }

    /// <summary>
    /// Runs the model on every declared input (by name) and returns every declared output. Throws
    /// <see cref="ArgumentException"/> saying which input is missing, undeclared, of another type or shape, or holds a
    /// non-finite number; <see cref="OnnxRuntimeException"/> when the model itself fails.
    /// </summary>
    public IReadOnlyList<NamedTensor> Run(IReadOnlyList<NamedTensor> inputs)
    {
        var tensors = Tensors ?? throw new InvalidOperationException($"{Spec} is a classifier: use Predict");
        return Run(tensors, inputs, tensors.Outputs);
    }

    /// <summary>
    /// <see cref="Run(IReadOnlyList{NamedTensor})"/>, and the declared embedding's value of the same run (null when none
    /// is declared), which monitoring sketches and the caller never sees.
    /// </summary>
    public (IReadOnlyList<NamedTensor> Outputs, NamedTensor? Embedding) RunWithEmbedding(IReadOnlyList<NamedTensor> inputs)
    {
        var tensors = Tensors ?? throw new InvalidOperationException($"{Spec} is a classifier: use Predict");
        if (tensors.Embedding is not { } embedding) return (Run(tensors, inputs, tensors.Outputs), null);
        if (tensors.Outputs.Any(o => o.Name == embedding.Name))
        {
            var served = Run(tensors, inputs, tensors.Outputs); // an output declared as the embedding: fetched once
            return (served, served.First(o => o.Name == embedding.Name));
        }

        var all = Run(tensors, inputs, [.. tensors.Outputs, new TensorSignature(embedding.Name, TensorElement.Float, [-1])]);
        return (all.Take(tensors.Outputs.Count).ToArray(), all[^1]);
    }

    private IReadOnlyList<NamedTensor> Run(TensorInterface tensors, IReadOnlyList<NamedTensor> inputs, IReadOnlyList<TensorSignature> fetched)
    {
        Check(tensors, inputs);
        inputs = Preprocessed(tensors, [.. inputs.Select(i => Scaled(tensors, i))]);
        var values = new List<OrtValue>(inputs.Count);
        try
        {
            foreach (var input in inputs) values.Add(ToOrtValue(input));
            using var options = new RunOptions();
            using var results = _session.Run(options, [.. inputs.Select(i => i.Name)], values, [.. fetched.Select(o => o.Name)]);
            return [.. results.Select((value, i) => FromOrtValue(fetched[i], value))];
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>The model's inputs: the caller's, with the preprocessing graph (if declared) run on its own and its outputs in their place.</summary>
    private IReadOnlyList<NamedTensor> Preprocessed(TensorInterface tensors, IReadOnlyList<NamedTensor> inputs)
    {
        if (_preprocess is null) return inputs;
        var declared = _preprocess.Declared;
        var fed = inputs.Where(i => declared.Inputs.Any(p => p.Name == i.Name)).ToList();
        var made = new List<NamedTensor>(declared.Outputs.Count);
        var values = new List<OrtValue>(fed.Count);
        try
        {
            foreach (var input in fed) values.Add(ToOrtValue(input));
            using var results = _preprocess.Run([.. fed.Select(i => i.Name)], values);
            foreach (var (value, name) in results.Zip(declared.Outputs))
            {
                var target = tensors.Inputs.Single(i => i.Name == name);
                var tensor = FromOrtValue(target, value);
                if (!target.Accepts(tensor.Dims)) throw new ArgumentException($"the preprocessing graph made '{name}' of shape [{string.Join(", ", tensor.Dims)}] from these inputs; the model takes [{string.Join(", ", target.Dims)}]");
                made.Add(tensor);
            }
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }

        return [.. made, .. inputs.Where(i => declared.Inputs.All(p => p.Name != i.Name))];
    }

    private static void Check(TensorInterface tensors, IReadOnlyList<NamedTensor> inputs)
    {
        foreach (var input in inputs)
        {
            var declared = tensors.Accepted.FirstOrDefault(t => t.Name == input.Name) ?? throw new ArgumentException($"the model has no input '{input.Name}' (inputs: {string.Join(", ", tensors.Accepted.Select(t => t.Name))})");
            if (input.Type != declared.Type || input.Data.GetType() != NamedTensor.ArrayType(declared.Type)) throw new ArgumentException($"input '{input.Name}' must be {declared.Type.ToString().ToLowerInvariant()}");
            if (!declared.Accepts(input.Dims)) throw new ArgumentException($"input '{input.Name}' has shape [{string.Join(", ", input.Dims)}]; declared [{string.Join(", ", declared.Dims)}] (−1: any positive size)");
            if (NamedTensor.ElementCount(input.Dims) != input.Data.Length) throw new ArgumentException($"input '{input.Name}' has {input.Data.Length} values for shape [{string.Join(", ", input.Dims)}]");
            if (input.Data is float[] f && Array.FindIndex(f, v => !float.IsFinite(v)) is var bad and >= 0) throw new ArgumentException($"input '{input.Name}' value {bad} is not a finite number");
            if (input.Data is double[] d && Array.FindIndex(d, v => !double.IsFinite(v)) is var badD and >= 0) throw new ArgumentException($"input '{input.Name}' value {badD} is not a finite number");
        }

        if (tensors.Accepted.FirstOrDefault(t => inputs.All(i => i.Name != t.Name)) is { } missing) throw new ArgumentException($"input '{missing.Name}' is missing");
        if (inputs.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count() != inputs.Count) throw new ArgumentException("an input is given twice");
    }

    /// <summary>The input as the model takes it: normalized on the device when the interface declares a scaling for it.</summary>
    private static NamedTensor Scaled(TensorInterface tensors, NamedTensor input) =>
        tensors.Scalings.FirstOrDefault(s => s.Input == input.Name) is not { } scaling ? input
        : input.Data switch
        {
            float[] f => input with { Data = scaling.Apply(f, input.Dims) },
            double[] d => input with { Data = scaling.Apply(d, input.Dims) },
            _ => input,
        };

    private static OrtValue ToOrtValue(NamedTensor input)
    {
        switch (input.Data)
        {
            case float[] f: return OrtValue.CreateTensorValueFromMemory(f, input.Dims);
            case double[] d: return OrtValue.CreateTensorValueFromMemory(d, input.Dims);
            case long[] l: return OrtValue.CreateTensorValueFromMemory(l, input.Dims);
            case int[] i: return OrtValue.CreateTensorValueFromMemory(i, input.Dims);
            case bool[] b: return OrtValue.CreateTensorValueFromMemory(b, input.Dims);
            case string[] s:
                var value = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, input.Dims);
                for (var k = 0; k < s.Length; k++) value.StringTensorSetElementAt(s[k].AsSpan(), k);
                return value;
            default: throw new ArgumentException($"input '{input.Name}' holds {input.Data.GetType().Name}");
        }
    }

    private static NamedTensor FromOrtValue(TensorSignature declared, OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        Array data = declared.Type switch
        {
            TensorElement.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            TensorElement.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            TensorElement.Int64 => value.GetTensorDataAsSpan<long>().ToArray(),
            TensorElement.Int32 => value.GetTensorDataAsSpan<int>().ToArray(),
            TensorElement.Bool => value.GetTensorDataAsSpan<bool>().ToArray(),
            _ => value.GetStringTensorAsArray(),
        };
        return new NamedTensor(declared.Name, declared.Type, info.Shape, data);
    }

    internal static TensorElementType ElementType(TensorElement type) => type switch
    {
        TensorElement.Float => TensorElementType.Float,
        TensorElement.Double => TensorElementType.Double,
        TensorElement.Int64 => TensorElementType.Int64,
        TensorElement.Int32 => TensorElementType.Int32,
        TensorElement.Bool => TensorElementType.Bool,
        _ => TensorElementType.String,
    };
}
