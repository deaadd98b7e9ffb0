using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>Session options shared by every ONNX Runtime session the project opens.</summary>
public static class OrtSessions
{
    /// <summary>
    /// One intra-op thread: a device runs one model on a small CPU, and a simulator runs many
    /// devices side by side, where per-session thread pools would oversubscribe the cores.
    /// </summary>
    public static SessionOptions CreateOptions(int intraOpThreads = 1)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            // Small models on small devices: ORT's arena and memory-pattern planner keep their peak
            // allocations for the life of the session; plain malloc/free keeps RSS at what a run needs.
            EnableCpuMemArena = false,
            EnableMemoryPattern = false,
        };
        return options;
    }

    public static InferenceSession Open(byte[] model, int intraOpThreads = 1)
    {
        using var options = CreateOptions(intraOpThreads);
        return new InferenceSession(model, options);
    }
}
