using System.Diagnostics;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Where a run writes its results (<c>--out</c>) and its run record (<c>--experiments</c>) is checked before the run: a
/// directory that is not there, or a file in the place of the record directory, stops the simulator at once with exit
/// code 2 naming the option. Before, the whole run went by (an MNIST run takes minutes) and then it crashed with an
/// unhandled exception (exit code 134), its results lost.
/// </summary>
public sealed class SimulatorOutputsTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("edgemlops-sim-outputs-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private async Task<(int Code, string Output)> RunAsync(params string[] args)
    {
        var simulator = Path.Combine(AppContext.BaseDirectory, "edgemlops-simulator.dll");
        var start = new ProcessStartInfo("dotnet", [simulator, "--dataset", "synthetic", "--devices", "4", "--rounds", "2", "--quiet", .. args])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _work,
        };
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEndAsync();
        var errors = child.StandardError.ReadToEndAsync();
        await child.WaitForExitAsync();
        return (child.ExitCode, await output + await errors);
    }

    [Fact]
    public async Task AnOutFileInADirectoryThatIsNotThere_StopsTheRunBeforeItStarts()
    {
        var (code, output) = await RunAsync("--out", Path.Combine(_work, "missing", "results.json"), "--experiments", "off");

        Assert.Equal(2, code);
        Assert.Contains($"--out {Path.Combine(_work, "missing", "results.json")}: its directory '{Path.Combine(_work, "missing")}' does not exist", output, StringComparison.Ordinal);
        Assert.DoesNotContain("round   1", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnExperimentsDirectoryWithAFileInItsPlace_StopsTheRunBeforeItStarts()
    {
        var file = Path.Combine(_work, "experiments");
        await File.WriteAllTextAsync(file, "not a directory");

        var (code, output) = await RunAsync("--out", "-", "--experiments", file);

        Assert.Equal(2, code);
        Assert.Contains($"--experiments: '{file}' cannot be used: it is a file, not a directory.", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }
}
