using EdgeMlOps.Aggregator.Evaluation;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Lines;

/// <summary>
/// The fleet's further models running beside its first (<see cref="AggregatorOptions.Lines"/>, and those added at run
/// time through <see cref="FleetLines"/>): one <see cref="AggregatorNode"/> per line — its own registry, rounds,
/// rollouts, monitoring, gates and API — on the fleet's broker (connected with a certificate of its own,
/// <see cref="ModelLineOptions.Identity"/>), its device CA and identities, its signing keys certified by the fleet's
/// root. The first model's node publishes the catalogue devices choose their lines from.
/// </summary>
public sealed class ModelLineHost : IAsyncDisposable
{
    private readonly AggregatorNode _fleet;
    private readonly ILoggerFactory _loggers;
    private readonly TimeProvider? _time;
    private readonly Func<ModelLineOptions, IModelEvaluator?>? _evaluators;
    private readonly List<(AggregatorNode Node, CancellationTokenSource Stop, Task Rounds)> _running = [];
    private CancellationToken? _rounds;

    private ModelLineHost(AggregatorNode fleet, ILoggerFactory loggers, TimeProvider? time, Func<ModelLineOptions, IModelEvaluator?>? evaluators) =>
        (_fleet, _loggers, _time, _evaluators) = (fleet, loggers, time, evaluators);

    /// <summary>Each line's node, in the order the lines came.</summary>
    public IReadOnlyList<AggregatorNode> Nodes
    {
        get
        {
            lock (_running) return [.. _running.Select(r => r.Node)];
        }
    }

    /// <summary>The node of line <paramref name="name"/>.</summary>
    public AggregatorNode this[string name] => Nodes.Single(n => n.Options.Line == name);

    /// <summary>
    /// Composes and starts every line of <paramref name="fleet"/>, which must have started (its broker is theirs), and
    /// from then on starts and stops the lines an operator adds and removes (<see cref="AggregatorNode.Lines"/>).
    /// </summary>
    /// <param name="fleet">The fleet's first model's node, started.</param>
    /// <param name="loggers">Where the lines log.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <param name="time">The lines' clock (the system's by default).</param>
    /// <param name="evaluators">A line's held-out evaluator (the simulator's); by default the line's <c>Evaluation:DataFile</c>, if any.</param>
    public static async Task<ModelLineHost> StartAsync(AggregatorNode fleet, ILoggerFactory loggers, CancellationToken cancellationToken, TimeProvider? time = null, Func<ModelLineOptions, IModelEvaluator?>? evaluators = null)
    {
        var host = new ModelLineHost(fleet, loggers, time, evaluators);
        try
        {
            foreach (var line in fleet.Lines.Current) await host.StartLineAsync(line, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        fleet.Lines.Starting = host.StartLineAsync;
        fleet.Lines.Stopping = host.StopLineAsync;
        fleet.Lines.ReplicasStarved = name => host.Nodes.FirstOrDefault(n => n.Options.Line == name)?.Replicas.Starved ?? [];
        return host;
    }

    /// <summary>Every line's rounds (<see cref="AggregatorNode.RunRoundsAsync"/>), side by side; a line added later runs its rounds from its start until this is cancelled.</summary>
    public Task RunRoundsAsync(CancellationToken cancellationToken)
    {
        List<Task> rounds = [];
        lock (_running)
        {
            _rounds = cancellationToken;
            for (var i = 0; i < _running.Count; i++)
            {
                var (node, unlinked, _) = _running[i];
                unlinked.Dispose();
                var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                _running[i] = (node, stop, RunRounds(node, stop.Token));
                rounds.Add(_running[i].Rounds);
            }
        }

        return Task.WhenAll(rounds);
    }

    private async Task StartLineAsync(ModelLineOptions line, CancellationToken cancellationToken)
    {
        var evaluator = _evaluators is not null ? _evaluators(line) : line.Options.EvaluationDataFile is { } file ? HeldOutFile.Load(file, line.Options.Model) : null;
        var node = new AggregatorNode(line.Options, _loggers, _time, evaluator, _fleet.ChannelsAs(line.Identity), _fleet.Security);
        try
        {
            node.Registry.FenceWith(_fleet.Registry); // a leader replaced while it stalled writes no line's version either
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _loggers.CreateLogger<ModelLineHost>().LogInformation("Model line {Line}: {Model} on {Url}", line.Name, line.Options.Model, line.Options.HttpUrl);
        lock (_running)
        {
            var stop = _rounds is { } rounds ? CancellationTokenSource.CreateLinkedTokenSource(rounds) : new CancellationTokenSource();
            _running.Add((node, stop, _rounds is null ? Task.CompletedTask : RunRounds(node, stop.Token)));
        }
    }

    private async Task StopLineAsync(string name)
    {
        (AggregatorNode Node, CancellationTokenSource Stop, Task Rounds) line;
        lock (_running)
        {
            var at = _running.FindIndex(r => r.Node.Options.Line == name);
            if (at < 0) return;
            line = _running[at];
            _running.RemoveAt(at);
        }

        await StopAsync(line).ConfigureAwait(false);
        _loggers.CreateLogger<ModelLineHost>().LogInformation("Model line {Line} stopped (its data stays in {Directory})", name, line.Node.Options.DataDirectory);
    }

    /// <summary>A line's rounds until it is stopped (a stop is not a failure of the line's rounds).</summary>
    private static async Task RunRounds(AggregatorNode node, CancellationToken stop)
    {
        try
        {
            await Task.Yield();
            await node.RunRoundsAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static async Task StopAsync((AggregatorNode Node, CancellationTokenSource Stop, Task Rounds) line)
    {
        await line.Stop.CancelAsync().ConfigureAwait(false);
        await line.Rounds.ConfigureAwait(false);
        line.Stop.Dispose();
        await line.Node.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _fleet.Lines.Starting = null;
        _fleet.Lines.Stopping = null;
        _fleet.Lines.ReplicasStarved = null;
        List<(AggregatorNode Node, CancellationTokenSource Stop, Task Rounds)> running;
        lock (_running)
        {
            running = [.. _running];
            _running.Clear();
        }

        foreach (var line in Enumerable.Reverse(running)) await StopAsync(line).ConfigureAwait(false);
    }
}
