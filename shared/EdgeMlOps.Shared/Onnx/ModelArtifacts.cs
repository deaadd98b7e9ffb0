using EdgeMlOps.Shared.Models;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>Reads a version's trained weights out of its inference artifact, whichever kind of model <see cref="ModelSpec"/> describes.</summary>
public static class ModelArtifacts
{
    /// <summary>
    /// The weights in <paramref name="inference"/>: a generated dense graph's layers (which must be exactly
    /// <paramref name="spec"/>), or an uploaded graph's declared initializers. Throws <see cref="InvalidDataException"/> otherwise.
    /// </summary>
    public static ModelWeights ReadWeights(byte[] inference, ModelSpec spec)
    {
        if (spec.Graph is not null) return UploadedClassifier.ReadWeights(inference, spec);
        ModelWeights weights;
        try
        {
            weights = ClassifierGraphs.ReadWeights(ClassifierGraphs.Parse(inference));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("not an ONNX model: " + ex.Message, ex);
        }

        return weights.Spec.Equals(spec) ? weights : throw new InvalidDataException($"the graph is {weights.Spec}, not the declared {spec}");
    }
}
