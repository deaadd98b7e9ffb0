using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Models;

/// <summary>
/// Loaded ONNX sessions by content hash. A device owns one; the simulator passes one instance to
/// every simulated device so devices on the same version share (and download) one session.
/// </summary>
public sealed class ModelRuntimes(OrtSessionSettings? settings = null)
{
    /// <summary>Threads and preferred execution provider for every session opened here.</summary>
    public OrtSessionSettings Settings { get; } = settings ?? OrtSessionSettings.Default;

    public SharedCache<InferenceModel> Inference { get; } = new();

    public SharedCache<TrainStepModel> TrainSteps { get; } = new();
}
