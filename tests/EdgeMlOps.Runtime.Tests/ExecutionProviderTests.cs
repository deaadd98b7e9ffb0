using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests;

public class ExecutionProviderTests
{
    private static readonly byte[] Model = ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpecText.Parse("logreg-3-2"), 1)).ToByteArray();

    [Fact]
    public void CpuBuild_ListsTheCpuProvider() => Assert.Contains("CPUExecutionProvider", OrtSessions.Available());

    [Theory]
    [InlineData("cuda", "CUDAExecutionProvider is not in this ONNX Runtime build")]
    [InlineData("openvino", "OpenVINOExecutionProvider is not in this ONNX Runtime build")]
    [InlineData("npu-of-the-future", "unknown execution provider")]
    public void AbsentProvider_FallsBackToCpu_AndSaysWhy(string provider, string reason)
    {
        using var model = InferenceModel.Load(Model, new OrtSessionSettings(1, provider));
        Assert.Equal("cpu", model.ExecutionProvider);
        Assert.Contains(reason, model.ProviderFallback, StringComparison.Ordinal);
        Assert.Equal(2, model.Predict([1f, 2f, 3f], 1).Probabilities.Length);
    }

    [Fact]
    public void Cpu_HasNoFallback()
    {
        using var model = InferenceModel.Load(Model);
        Assert.Equal("cpu", model.ExecutionProvider);
        Assert.Null(model.ProviderFallback);
    }
}
