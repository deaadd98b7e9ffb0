using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Cli;

/// <summary><c>edgemlops models check</c>: offline, on files PyTorch exported.</summary>
public class ModelCheckCommandTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    private static async Task<(int Exit, string Output)> Run(params string[] args)
    {
        var console = new TestConsole().Width(400);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "check", .. args], console);
        return (exit, console.Output);
    }

    [Fact]
    public async Task APyTorchExport_IsDescribed_AndItsChosenLayersWouldTrain()
    {
        var stepFile = Path.Combine(Path.GetTempPath(), $"step-{Guid.NewGuid():N}.onnx");
        var (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--trainable", "last:2", "--optimizer", "adam", "--train-step", stepFile);
        Assert.Equal(0, exit);
        Assert.Contains("inputs:    features float [batch, 4]", output, StringComparison.Ordinal);
        Assert.Contains("LayerNormalization ×1", output, StringComparison.Ordinal);
        Assert.Contains("well formed: yes", output, StringComparison.Ordinal);
        // The last two layers with parameters: the LayerNorm (scale, bias) and the last Linear.
        Assert.Contains("adam; trains 4 tensors", output, StringComparison.Ordinal);
        Assert.Contains("frozen:    2 initializers", output, StringComparison.Ordinal);
        var step = EdgeMlOps.Shared.Onnx.ClassifierGraphs.Parse(File.ReadAllBytes(stepFile));
        Assert.Contains(step.Graph.Input, i => i.Name == "optimizer_step");
        File.Delete(stepFile);
    }

    [Fact]
    public async Task Refusals_ExitOne_AndSayWhy()
    {
        var garbage = Path.Combine(Path.GetTempPath(), $"garbage-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(garbage, [0xff, 0xff, 0xff, 0x01, 0x02]);
        var (exit, output) = await Run(garbage);
        Assert.Equal(1, exit);
        Assert.Contains("is not an ONNX model", output, StringComparison.Ordinal);
        File.Delete(garbage);

        (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--output", "logits");
        Assert.Equal(1, exit);
        Assert.Contains("no train step for pytorch_mlp_layernorm.onnx: the model has no output 'logits' (outputs: probabilities, label)", output, StringComparison.Ordinal);

        (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--trainable", "none");
        Assert.Equal(0, exit);
        Assert.DoesNotContain("train step", output, StringComparison.Ordinal);
    }
}
