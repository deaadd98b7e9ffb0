using System.Diagnostics;
using System.Globalization;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Simulator.Workers;

/// <summary>
/// The agents of one fleet spread over worker processes of this simulator (each under the open-files
/// limit), all connecting to one broker. A worker hosts its slice of the fleet until its standard input
/// closes; it says <c>ready</c> once its agents are started.
/// </summary>
public sealed class WorkerProcesses : IAsyncDisposable
{
    private readonly List<Process> _processes = new();
    private readonly List<Task> _ready = new();

    private WorkerProcesses()
    {
    }

    /// <summary>Resident memory of all workers now (bytes).</summary>
    public long ResidentBytes => _processes.Sum(p => ProcessMemory.ResidentBytes(p.Id));

    /// <summary>Starts <paramref name="workers"/> processes over fleet indices 0 to <paramref name="devices"/> − 1 and waits until each says it is ready.</summary>
    public static async Task<WorkerProcesses> StartAsync(
        IReadOnlyList<string> arguments, int devices, int workers, MqttEndpoint broker, byte[] trustedRoot, IEnumerable<string> enrollment, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = new WorkerProcesses();
        try
        {
            var passOn = WithoutCoordinatorOptions(arguments);
            var (executable, prefix) = SelfCommand();
            for (var w = 0; w < workers; w++)
            {
                var first = (int)((long)devices * w / workers);
                var count = (int)((long)devices * (w + 1) / workers) - first;
                var info = new ProcessStartInfo(executable)
                {
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    UseShellExecute = false,
                };
                foreach (var a in prefix.Concat(passOn)) info.ArgumentList.Add(a);
                foreach (var a in new[] { "--worker-slice", $"{first}:{count}", "--broker", broker.ToString(), "--trusted-root", Convert.ToBase64String(trustedRoot), "--quiet", "--out", "-" }.Concat(enrollment))
                {
                    info.ArgumentList.Add(a);
                }

                var process = Process.Start(info) ?? throw new InvalidOperationException("could not start a worker process");
                started._processes.Add(process);
                started._ready.Add(WaitForReadyAsync(process, w));
            }

            await Task.WhenAll(started._ready).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return started;
        }
        catch
        {
            await started.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Closes every worker's standard input (its agents say goodbye and stop) and waits for the exits.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var process in _processes) CloseInput(process);
        foreach (var process in _processes) await WaitOrKillAsync(process, TimeSpan.FromMinutes(2)).ConfigureAwait(false);
    }

    /// <summary>Closes a child's standard input, its signal to stop (one already dead cannot be told).</summary>
    internal static void CloseInput(Process process)
    {
        try
        {
            process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Waits for a child told to stop; one still running after <paramref name="timeout"/> is killed. Disposes it.</summary>
    internal static async Task WaitOrKillAsync(Process process, TimeSpan timeout)
    {
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }

        process.Dispose();
    }

    private static async Task WaitForReadyAsync(Process process, int index)
    {
        while (await process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (line.StartsWith("ready", StringComparison.Ordinal))
            {
                // Keep draining its output so the worker never blocks on a full pipe.
                _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
                return;
            }
        }

        throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"worker {index} exited with code {(process.HasExited ? process.ExitCode : -1)} before it was ready"));
    }

    /// <summary>The coordinator's own arguments without the ones that make it a coordinator or write its results.</summary>
    private static List<string> WithoutCoordinatorOptions(IReadOnlyList<string> arguments)
    {
        var kept = new List<string>();
        for (var i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] is "--workers" or "--out" or "--broker" && i + 1 < arguments.Count)
            {
                i++;
                continue;
            }

            if (arguments[i] != "--quiet") kept.Add(arguments[i]);
        }

        return kept;
    }

    /// <summary>How to start this simulator again: its own apphost if that is what runs, else the dotnet host with its assembly (also from a test host).</summary>
    internal static (string Executable, string[] Prefix) SelfCommand()
    {
        var assembly = typeof(WorkerProcesses).Assembly.Location;
        var process = Environment.ProcessPath;
        if (process is not null && Path.GetFileNameWithoutExtension(process) == Path.GetFileNameWithoutExtension(assembly)) return (process, []);
        var host = process is not null && Path.GetFileNameWithoutExtension(process) == "dotnet"
            ? process
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } fromSdk ? fromSdk : "dotnet";
        return (host, [assembly]);
    }
}

/// <summary>Resident memory of a process, from /proc (Linux).</summary>
public static class ProcessMemory
{
    public static long ResidentBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
                var kib = line["VmRSS:".Length..].Trim().Split(' ')[0];
                return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }
}
