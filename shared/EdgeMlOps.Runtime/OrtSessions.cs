using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>How sessions are opened: threads and the preferred execution provider.</summary>
/// <param name="IntraOpThreads">One by default: a device runs one small model, a simulator runs many devices side by side.</param>
/// <param name="ExecutionProvider">cpu, xnnpack, openvino, cuda, dnnl or qnn; falls back to cpu when absent.</param>
public sealed record OrtSessionSettings(int IntraOpThreads = 1, string ExecutionProvider = "cpu")
{
    public static readonly OrtSessionSettings Default = new();

    /// <summary>Provider names accepted in configuration.</summary>
    public static readonly IReadOnlyList<string> KnownProviders = ["cpu", "xnnpack", "openvino", "cuda", "dnnl", "qnn"];
}

/// <summary>An opened session and the provider that actually runs it.</summary>
public sealed record OpenedSession(InferenceSession Session, string Provider, string? FallbackReason);

/// <summary>Session options shared by every ONNX Runtime session the project opens.</summary>
public static class OrtSessions
{
    private static readonly Dictionary<string, string> OrtNames = new(StringComparer.Ordinal)
    {
        ["xnnpack"] = "XnnpackExecutionProvider",
        ["openvino"] = "OpenVINOExecutionProvider",
        ["cuda"] = "CUDAExecutionProvider",
        ["dnnl"] = "DnnlExecutionProvider",
        ["qnn"] = "QNNExecutionProvider",
    };

    /// <summary>Providers compiled into the loaded ONNX Runtime library.</summary>
    public static IReadOnlyList<string> Available() => OrtEnv.Instance().GetAvailableProviders();

    /// <summary>Whether one of <paramref name="inputs"/> has its batch fixed at 1 (a file exported without dynamic axes): the session takes one row at a time.</summary>
    public static bool TakesOneRow(InferenceSession session, IEnumerable<string> inputs) =>
        inputs.Any(n => session.InputMetadata.TryGetValue(n, out var input) && input.Dimensions is [1, ..]);

    public static SessionOptions CreateOptions(int intraOpThreads = 1) => new()
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

    public static InferenceSession Open(byte[] model, int intraOpThreads = 1) => Open(model, new OrtSessionSettings(intraOpThreads)).Session;

    /// <summary>
    /// Opens a session on the preferred provider if this ORT build has it and it initialises;
    /// otherwise on the CPU, saying why.
    /// </summary>
    public static OpenedSession Open(byte[] model, OrtSessionSettings settings)
    {
        var requested = settings.ExecutionProvider;
        if (requested != "cpu")
        {
            string? reason;
            if (!OrtNames.TryGetValue(requested, out var ortName)) reason = $"unknown execution provider '{requested}'";
            else if (!Available().Contains(ortName)) reason = $"{ortName} is not in this ONNX Runtime build (available: {string.Join(", ", Available())})";
            else
            {
                using var options = CreateOptions(settings.IntraOpThreads);
                try
                {
                    Append(options, requested);
                    return new OpenedSession(new InferenceSession(model, options), requested, null);
                }
                catch (OnnxRuntimeException ex)
                {
                    reason = $"{ortName} failed to initialise: {ex.Message}";
                }
            }

            using var cpuOptions = CreateOptions(settings.IntraOpThreads);
            return new OpenedSession(new InferenceSession(model, cpuOptions), "cpu", reason + "; running on cpu");
        }

        using var cpu = CreateOptions(settings.IntraOpThreads);
        return new OpenedSession(new InferenceSession(model, cpu), "cpu", null);
    }

    private static void Append(SessionOptions options, string provider)
    {
        switch (provider)
        {
            case "xnnpack": options.AppendExecutionProvider("XNNPACK", new Dictionary<string, string>()); break;
            case "qnn": options.AppendExecutionProvider("QNN", new Dictionary<string, string>()); break;
            case "openvino": options.AppendExecutionProvider_OpenVINO(); break;
            case "cuda": options.AppendExecutionProvider_CUDA(0); break;
            case "dnnl": options.AppendExecutionProvider_Dnnl(1); break;
        }
    }
}
