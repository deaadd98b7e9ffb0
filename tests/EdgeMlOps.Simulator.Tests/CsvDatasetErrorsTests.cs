using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A csv dataset the simulator cannot read — not there, or a value that is no number — is refused naming the option and
/// the reason, as an unavailable MNIST is (the host prints it and exits 1). It crashed the simulator with an unhandled
/// exception (exit code 134, a core dump) whose message was right but buried in a stack trace.
/// </summary>
public sealed class CsvDatasetErrorsTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), "edgemlops-csv-" + Guid.NewGuid().ToString("N") + ".csv");

    public void Dispose() => File.Delete(_file);

    [Fact]
    public void AFileThatIsNotThere_IsRefusedNamingTheOption()
    {
        var ex = Assert.Throws<DatasetUnavailableException>(() => SimulatedData.Load(SimulationOptions.Parse(["--dataset", "csv:" + _file])));
        Assert.StartsWith($"--dataset csv:{_file}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Could not find file", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // with --regression: the targets' reader (the model file is read later)
    public void AValueThatIsNoNumber_IsRefusedNamingTheOptionAndTheLine(bool regression)
    {
        File.WriteAllText(_file, "1,2,0\n1,x,1\n");
        var ex = Assert.Throws<DatasetUnavailableException>(() => SimulatedData.Load(SimulationOptions.Parse(["--dataset", "csv:" + _file, .. regression ? new[] { "--regression", "--model-file", "regressor.onnx" } : []])));
        Assert.StartsWith($"--dataset csv:{_file}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains("line 2", ex.Message, StringComparison.Ordinal);
    }
}
