using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Runs a model served by tensor names in ONNX Runtime before any device does: every declared input fed (a chosen
/// axis at 1; floats standard normal, integers 0 — the one id every vocabulary has —, strings empty, state zeros),
/// every declared output made with its declared rank, float outputs finite. Twice when it carries state, the second
/// call fed the first one's state, as a device would.
/// </summary>
public static class TensorModelProbe
{
    /// <summary>Throws <see cref="InvalidDataException"/> saying what failed; <paramref name="preprocess"/> is the declared preprocessing graph's file.</summary>
    public static void Run(byte[] bytes, ModelSpec spec, TensorInterface tensors, byte[]? preprocess = null)
    {
        InferenceModel loaded;
        try
        {
            loaded = InferenceModel.Load(bytes, spec, preprocess: preprocess);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load it: {ex.Message}", ex);
        }

        using (loaded)
        {
            var inputs = tensors.Accepted.Select(i => tensors.States.Any(s => s.Input == i.Name) ? NamedTensor.Zeros(i) : Probe(i)).ToList();
            for (var call = 0; call < (tensors.States.Count > 0 ? 2 : 1); call++)
            {
                IReadOnlyList<NamedTensor> outputs;
                NamedTensor? embedding;
                try
                {
                    (outputs, embedding) = loaded.RunWithEmbedding(inputs);
                }
                catch (Exception ex) when (ex is OnnxRuntimeException or ArgumentException)
                {
                    throw new InvalidDataException($"it does not run on probe inputs ({string.Join(", ", inputs.Select(i => $"{i.Name} [{string.Join(", ", i.Dims)}]"))}): {ex.Message}", ex);
                }

                foreach (var (output, declared) in outputs.Zip(tensors.Outputs))
                {
                    if (output.Dims.Length != declared.Dims.Count) throw new InvalidDataException($"output '{declared.Name}' came out with shape [{string.Join(", ", output.Dims)}]; declared [{string.Join(", ", declared.Dims)}]");
                    if (output.Data is float[] f && Array.FindIndex(f, v => !float.IsFinite(v)) is var bad and >= 0) throw new InvalidDataException($"output '{declared.Name}' has a non-finite value at {bad} on probe inputs");
                }

                if (tensors.Embedding is { } watched && embedding is not null && PerRow(embedding) != watched.Width)
                    throw new InvalidDataException($"the embedding '{watched.Name}' came out with shape [{string.Join(", ", embedding.Dims)}], not {watched.Width} values per row");
                if (embedding?.Data is float[] e && Array.FindIndex(e, v => !float.IsFinite(v)) is var badE and >= 0) throw new InvalidDataException($"the embedding '{embedding.Name}' has a non-finite value at {badE} on probe inputs");
                foreach (var (input, output) in tensors.States)
                {
                    var state = outputs.Single(o => o.Name == output);
                    if (!tensors.Inputs.Single(i => i.Name == input).Accepts(state.Dims)) throw new InvalidDataException($"state output '{output}' came out with shape [{string.Join(", ", state.Dims)}], which input '{input}' does not take");
                    inputs[inputs.FindIndex(i => i.Name == input)] = state with { Name = input };
                }
            }
        }
    }

    /// <summary>
    /// The declared embedding's values per row, measured: the model run with the caller's axes at 1 and again at 2
    /// (state at zeros), its value read per row of its first axis both times; a width that depends on a chosen axis
    /// (a frame count) is refused, since sketches need the same values in every row.
    /// </summary>
    public static TensorEmbedding MeasureEmbedding(byte[] bytes, TensorInterface tensors, string name, byte[]? preprocess = null)
    {
        TensorInterface reading; // read with a placeholder width: the run returns the whole value
        try
        {
            EmbeddingExposure.CheckNamed(ClassifierGraphs.Parse(bytes), name); // names the candidates when it is not there
            reading = tensors with { Embedding = new TensorEmbedding(name, 1) };
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }

        InferenceModel loaded;
        try
        {
            loaded = InferenceModel.Load(bytes, ModelSpec.ForTensors(reading), preprocess: preprocess);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load it with '{name}' read: {ex.Message}", ex);
        }

        using (loaded)
        {
            var widths = new List<long>();
            foreach (var size in new[] { 1, 2 })
            {
                var inputs = tensors.Accepted.Select(i => tensors.States.Any(s => s.Input == i.Name) ? NamedTensor.Zeros(i) : Probe(i, size)).ToList();
                try
                {
                    widths.Add(PerRow(loaded.RunWithEmbedding(inputs).Embedding!));
                }
                catch (Exception ex) when (ex is OnnxRuntimeException or ArgumentException)
                {
                    throw new InvalidDataException($"it does not run on probe inputs: {ex.Message}", ex);
                }
            }

            if (widths[0] != widths[1] || widths[0] is < 1 or > TensorEmbedding.MaxWidth)
                throw new InvalidDataException($"'{name}' has {widths[0]} values per row with the caller's axes at 1 and {widths[1]} at 2; an embedding needs the same number in every row (1 to {TensorEmbedding.MaxWidth})");
            return new TensorEmbedding(name, (int)widths[0]);
        }
    }

    /// <summary>Values per row of the first axis (a rank-0 value is one row).</summary>
    private static long PerRow(NamedTensor value) => value.Dims.Length == 0 || value.Dims[0] <= 0 ? value.Data.Length : value.Data.Length / value.Dims[0];

    private static NamedTensor Probe(TensorSignature input, int chosen = 1)
    {
        var dims = input.Dims.Select(d => d == -1 ? chosen : d).ToArray();
        var zeros = NamedTensor.Zeros(new TensorSignature(input.Name, input.Type, dims));
        return input.Type switch
        {
            TensorElement.Float => zeros with { Data = UploadedGraphCheck.ProbeInputs(1, zeros.Data.Length) },
            TensorElement.Double => zeros with { Data = Array.ConvertAll(UploadedGraphCheck.ProbeInputs(1, zeros.Data.Length), v => (double)v) },
            _ => zeros,
        };
    }
}
