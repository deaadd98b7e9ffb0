using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Opens a version's inference file as the spec reads it on the aggregator (evaluation, gates, explanations): with the
/// preprocessing graph the spec declares, read from the artifact store where the aggregator put it at start.
/// </summary>
internal static class ModelLoading
{
    public static InferenceModel LoadModel(this ArtifactStore artifacts, byte[] bytes, ModelSpec spec) =>
        InferenceModel.Load(bytes, spec, preprocess: artifacts.PreprocessOf(spec));

    /// <summary>The declared preprocessing graph's file, or null when the spec declares none.</summary>
    public static byte[]? PreprocessOf(this ArtifactStore artifacts, ModelSpec spec) => spec.Preprocess is { } p ? artifacts.Read(p.Sha256) : null;
}
