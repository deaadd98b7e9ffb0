using System.Diagnostics;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>The aggregator host (<c>edgemlops-aggregator.dll</c>) as a child process whose output lines the test can wait for and which it can kill.</summary>
internal sealed class AggregatorProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];

    public AggregatorProcess(string work, string[] args)
    {
        _process = new Process { StartInfo = StartInfo(work, args) };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_lines) _lines.Add(e.Data);
        };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Every output line so far.</summary>
    public string[] Lines
    {
        get
        {
            lock (_lines) return [.. _lines];
        }
    }

    public bool Saw(string text) => Line(text) is not null;

    /// <summary>The first output line containing <paramref name="text"/>, if any yet.</summary>
    public string? Line(string text)
    {
        lock (_lines) return _lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
    }

    public Task WaitForAsync(string text) => Eventually.Until(() => Saw(text), $"the host to log '{text}'", seconds: 60);

    /// <summary>SIGKILL: no clean stop, nothing flushed.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited) Kill();
        _process.Dispose();
    }

    /// <summary>Runs the host to its exit (a minute at most) and returns its exit code and output.</summary>
    public static async Task<(int Code, string Output, string Errors)> RunToExitAsync(string workingDirectory, params string[] args)
    {
        using var process = Process.Start(StartInfo(workingDirectory, args))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }

    private static ProcessStartInfo StartInfo(string work, string[] args) =>
        new("dotnet", [Path.Combine(AppContext.BaseDirectory, "edgemlops-aggregator.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = work,
        };
}
