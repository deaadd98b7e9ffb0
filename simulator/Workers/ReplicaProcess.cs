using System.Diagnostics;
using System.Globalization;
using EdgeMlOps.Aggregator.Replicas;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator.Workers;

/// <summary>
/// An aggregator replica in a child process of this simulator (<c>--replica-processes</c>): the same run's settings
/// (so the same fleet, model, store schema and data directory) and one <see cref="ReplicaWorker"/>, until its standard
/// input closes. It says <c>ready</c> once subscribed, then <c>accepted N</c> every 200 ms; a crash is a SIGKILL.
/// </summary>
public sealed class ReplicaProcess : ISimulatedReplica
{
    private const int ReportMilliseconds = 200;
    private readonly Process _process;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _accepted;

    private ReplicaProcess(Process process, string name)
    {
        (_process, Name) = (process, name);
        _ = ReadAsync();
    }

    public string Name { get; }

    public long Accepted => Interlocked.Read(ref _accepted);

    public IReadOnlyDictionary<string, long> AcceptedByLine { get; } = new Dictionary<string, long>();

    /// <summary>
    /// Starts replica <paramref name="name"/> of the run the coordinator was given <paramref name="arguments"/> for, in
    /// <paramref name="work"/> (the coordinator's work directory), and waits until it is subscribed.
    /// </summary>
    public static async Task<ReplicaProcess> StartAsync(IReadOnlyList<string> arguments, string name, string work, string broker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var (executable, prefix) = WorkerProcesses.SelfCommand();
        var info = new ProcessStartInfo(executable) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in prefix.Concat(WithoutRunOptions(arguments)).Concat(["--replica-worker", name, "--work-dir", work, "--broker", broker, "--quiet", "--out", "-"]))
        {
            info.ArgumentList.Add(a);
        }

        var replica = new ReplicaProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start a replica process"), name);
        try
        {
            await replica._ready.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
            return replica;
        }
        catch
        {
            await replica.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>SIGKILL: the process ends with no goodbye, no last share, nothing flushed.</summary>
    public void Crash()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
    }

    /// <summary>Closes its standard input (it stops its worker cleanly) and waits for the exit.</summary>
    public async ValueTask DisposeAsync()
    {
        WorkerProcesses.CloseInput(_process);
        await WorkerProcesses.WaitOrKillAsync(_process, TimeSpan.FromMinutes(1)).ConfigureAwait(false);
    }

    /// <summary>The child's side: hosts the replica until standard input closes, saying what it took.</summary>
    public static async Task RunAsync(SimulationOptions options, ILoggerFactory loggers, TextReader input, TextWriter output, CancellationToken cancellationToken)
    {
        var run = SimulationRunner.AggregatorOptions(options, SimulatedData.Load(options), options.WorkDirectory!);
        var replica = run with { Replicas = run.Replicas with { Name = options.ReplicaWorker } };
        await using var worker = ReplicaStandby.ForHost(replica, TimeProvider.System, loggers);
        await worker.StartAsync(cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync("ready").ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        // Console.In reads synchronously even through its async methods: wait for the end of input on a thread of its own.
        var closed = Task.Run(input.ReadToEnd, cancellationToken);
        while (!closed.IsCompleted)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"accepted {worker.Accepted}")).ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAny(closed, Task.Delay(ReportMilliseconds, cancellationToken)).ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"accepted {worker.Accepted}")).ConfigureAwait(false);
    }

    /// <summary>Reads the child's lines: <c>ready</c>, then its counts; an exit before <c>ready</c> fails the start.</summary>
    private async Task ReadAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            if (line == "ready") _ready.TrySetResult();
            else if (line.StartsWith("accepted ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), NumberStyles.Integer, CultureInfo.InvariantCulture, out var taken)) Interlocked.Exchange(ref _accepted, taken);
        }

        _ready.TrySetException(new InvalidOperationException($"replica process {Name} exited before it was ready"));
    }

    /// <summary>The coordinator's arguments without what makes it the coordinator of a run or says where its results go.</summary>
    private static List<string> WithoutRunOptions(IReadOnlyList<string> arguments)
    {
        var kept = new List<string>();
        for (var i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] is "--out" or "--broker" or "--work-dir" or "--replica-crash-after" && i + 1 < arguments.Count)
            {
                i++;
                continue;
            }

            if (arguments[i] is not ("--quiet" or "--replica-processes")) kept.Add(arguments[i]);
        }

        return kept;
    }
}
