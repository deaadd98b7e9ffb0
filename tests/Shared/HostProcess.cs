using System.Diagnostics;

namespace EdgeMlOps.Tests;

/// <summary>
/// A host (<c>edgemlops-aggregator.dll</c>, <c>edgemlops-agent.dll</c>, from the test's output directory) as a child
/// process whose output lines the test can wait for and which it can kill, shared by every test project.
/// </summary>
internal sealed class HostProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly List<string> _errors = [];

    public const string Aggregator = "edgemlops-aggregator.dll";

    public const string Agent = "edgemlops-agent.dll";

    public HostProcess(string host, string work, string[] args)
    {
        _process = new Process { StartInfo = StartInfo(host, work, args) };
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_lines) _lines.Add(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_errors) _errors.Add(e.Data);
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

    /// <summary>Whether the process has ended.</summary>
    public bool Exited => _process.HasExited;

    /// <summary>The first output line containing <paramref name="text"/>, if any yet.</summary>
    public string? Line(string text)
    {
        lock (_lines) return _lines.FirstOrDefault(l => l.Contains(text, StringComparison.Ordinal));
    }

    /// <summary>Waits for a line; a host that exits first fails the wait with its exit code and its last words.</summary>
    public async Task WaitForAsync(string text)
    {
        await Eventually.Until(() => Saw(text) || _process.HasExited, $"the host to log '{text}'", seconds: 60);
        if (Saw(text)) return;
        string[] said;
        lock (_errors) said = [.. _errors.TakeLast(10)];
        throw new InvalidOperationException($"the host exited with code {_process.ExitCode} before logging '{text}': {string.Join(" | ", [.. Lines.TakeLast(5), .. said])}");
    }

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
    public static async Task<(int Code, string Output, string Errors)> RunToExitAsync(string host, string workingDirectory, params string[] args)
    {
        using var process = Process.Start(StartInfo(host, workingDirectory, args))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }

    private static ProcessStartInfo StartInfo(string host, string work, string[] args) =>
        new("dotnet", [Path.Combine(AppContext.BaseDirectory, host), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = work,
        };
}
