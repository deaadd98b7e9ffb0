using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Which check admits a new file as the next version of an uploaded model the fleet does not train: by tensor names
/// (<see cref="TensorVersionCheck"/>) or a classifier served without training (<see cref="ServedClassifierVersionCheck"/>).
/// A model the fleet trains takes new trained values, not new files (<see cref="UploadedGraphCheck.AdmitVersionOf"/>).
/// </summary>
public static class FileVersions
{
    /// <summary>The (empty) weights to register with the file, or <see cref="UploadRefusedException"/> saying why not.</summary>
    public static ModelWeights Admit(UploadedClassifier source, byte[] uploaded) => source.Spec switch
    {
        { IsClassifier: false } => TensorVersionCheck.Admit(source, uploaded),
        { Trainable: false } => ServedClassifierVersionCheck.Admit(source, uploaded),
        _ => throw new UploadRefusedException("this fleet trains its model: a new version is the same graph with new values in its trained tensors, not a new file (see docs/MODELS.md)"),
    };
}
