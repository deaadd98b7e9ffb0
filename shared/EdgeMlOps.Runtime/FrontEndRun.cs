using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>
/// How many values of each axis a front end makes of a sample: its file run once in ONNX Runtime on one sample of zeros
/// of its (pinned) input shape. Asked when a front end's shapes alone do not say how many frames it makes of the
/// shortest and the longest samples (<c>UploadedClassifierOptions.FrontDims</c>).
/// </summary>
public static class FrontEndRun
{
    /// <summary>The dims of the front end's first output, its batch 1. Throws for a file ONNX Runtime cannot load or run, or an input whose axes are not all fixed behind the batch.</summary>
    public static long[] OutputDims(byte[] front)
    {
        using var session = OrtSessions.Open(front);
        var (name, input) = session.InputMetadata.First();
        long[] dims = [1, .. input.Dimensions.Skip(1).Select(d => d > 0 ? (long)d : throw new InvalidDataException($"input '{name}' has an axis after the batch that is not fixed"))];
        using var zeros = OrtValue.CreateTensorValueFromMemory(new float[checked((int)dims.Aggregate(1L, (a, d) => a * d))], dims);
        using var options = new RunOptions();
        using var outputs = session.Run(options, [name], [zeros], [session.OutputNames[0]]);
        return outputs[0].GetTensorTypeAndShape().Shape;
    }
}
