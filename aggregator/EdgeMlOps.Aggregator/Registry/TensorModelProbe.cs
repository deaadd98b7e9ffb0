using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
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
    /// <summary>Throws <see cref="InvalidDataException"/> saying what failed.</summary>
    public static void Run(byte[] bytes, ModelSpec spec, TensorInterface tensors)
    {
        InferenceModel loaded;
        try
        {
            loaded = InferenceModel.Load(bytes, spec);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load it: {ex.Message}", ex);
        }

        using (loaded)
        {
            var inputs = tensors.Inputs.Select(i => tensors.States.Any(s => s.Input == i.Name) ? NamedTensor.Zeros(i) : Probe(i)).ToList();
            for (var call = 0; call < (tensors.States.Count > 0 ? 2 : 1); call++)
            {
                IReadOnlyList<NamedTensor> outputs;
                try
                {
                    outputs = loaded.Run(inputs);
                }
                catch (OnnxRuntimeException ex)
                {
                    throw new InvalidDataException($"it does not run on probe inputs ({string.Join(", ", inputs.Select(i => $"{i.Name} [{string.Join(", ", i.Dims)}]"))}): {ex.Message}", ex);
                }

                foreach (var (output, declared) in outputs.Zip(tensors.Outputs))
                {
                    if (output.Dims.Length != declared.Dims.Count) throw new InvalidDataException($"output '{declared.Name}' came out with shape [{string.Join(", ", output.Dims)}]; declared [{string.Join(", ", declared.Dims)}]");
                    if (output.Data is float[] f && Array.FindIndex(f, v => !float.IsFinite(v)) is var bad and >= 0) throw new InvalidDataException($"output '{declared.Name}' has a non-finite value at {bad} on probe inputs");
                }

                foreach (var (input, output) in tensors.States)
                {
                    var state = outputs.Single(o => o.Name == output);
                    if (!tensors.Inputs.Single(i => i.Name == input).Accepts(state.Dims)) throw new InvalidDataException($"state output '{output}' came out with shape [{string.Join(", ", state.Dims)}], which input '{input}' does not take");
                    inputs[inputs.FindIndex(i => i.Name == input)] = state with { Name = input };
                }
            }
        }
    }

    private static NamedTensor Probe(TensorSignature input)
    {
        var dims = input.Dims.Select(d => d == -1 ? 1 : d).ToArray();
        var zeros = NamedTensor.Zeros(new TensorSignature(input.Name, input.Type, dims));
        return input.Type switch
        {
            TensorElement.Float => zeros with { Data = UploadedGraphCheck.ProbeInputs(1, zeros.Data.Length) },
            TensorElement.Double => zeros with { Data = Array.ConvertAll(UploadedGraphCheck.ProbeInputs(1, zeros.Data.Length), v => (double)v) },
            _ => zeros,
        };
    }
}
