using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// A new version of a model served by tensor names: a new file (retrained, re-exported, quantized elsewhere) with
/// exactly the fleet's interface — the same inputs, outputs, element types, shapes and state pairs, so every caller
/// on every device keeps working — that ONNX Runtime runs on probe inputs. It is stored and served byte for byte.
/// </summary>
public static class TensorVersionCheck
{
    /// <summary>The (empty) weights to register with the file, or <see cref="UploadRefusedException"/> saying what differs or fails.</summary>
    public static ModelWeights Admit(UploadedClassifier source, byte[] uploaded)
    {
        var fleet = source.Spec.Graph!.Tensors!;
        TensorInterface offered;
        try
        {
            // The fleet's outputs the file has (a missing one is named below), no state yet: first compare the tensors.
            var outputs = ClassifierGraphs.Parse(uploaded).Graph?.Output.Select(o => o.Name).Where(n => fleet.Outputs.Any(o => o.Name == n)).ToList() ?? [];
            offered = UploadedClassifier.OpenTensors(uploaded, [], outputs.Count > 0 ? outputs : null).Spec.Graph!.Tensors!;
        }
        catch (Exception ex) when (ex is InvalidDataException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new UploadRefusedException($"the file cannot be a version of this fleet's model (served by tensor names): {ex.Message}");
        }

        var differences = Differences("input", fleet.Inputs, offered.Inputs).Concat(Differences("output", fleet.Outputs, offered.Outputs)).ToList();
        if (differences.Count > 0)
            throw new UploadRefusedException($"the file's interface is not the fleet's: {string.Join("; ", differences)}. Callers on every device feed and read these tensors by name, so a version keeps them; a different interface is a new model (see docs/MODELS.md).");
        try
        {
            TensorModelProbe.Run(uploaded, source.Spec, fleet, source.Preprocess);
        }
        catch (InvalidDataException ex)
        {
            throw new UploadRefusedException($"the file does not run as the fleet's model: {ex.Message}");
        }

        return new ModelWeights(source.Spec, []);
    }

    private static IEnumerable<string> Differences(string role, IReadOnlyList<TensorSignature> fleet, IReadOnlyList<TensorSignature> offered)
    {
        foreach (var t in fleet.Where(t => offered.All(o => o.Name != t.Name))) yield return $"no {role} '{t.Name}' ({t.CanonicalText})";
        if (role == "input")
        {
            foreach (var o in offered.Where(o => fleet.All(t => t.Name != o.Name))) yield return $"an extra input '{o.Name}' ({o.CanonicalText})";
        }

        foreach (var (t, o) in fleet.Join(offered, t => t.Name, o => o.Name, (t, o) => (t, o)).Where(p => !p.t.Equals(p.o))) yield return $"{role} {o.CanonicalText}, the fleet's is {t.CanonicalText}";
    }
}
