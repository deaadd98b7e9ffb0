using EdgeMlOps.Aggregator.Evaluation;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Lines;

/// <summary>
/// The fleet's further models running beside its first (<see cref="AggregatorOptions.Lines"/>): one
/// <see cref="AggregatorNode"/> per line — its own registry, rounds, rollouts, monitoring, gates and API — on the
/// fleet's broker (connected with a certificate of its own, <see cref="ModelLineOptions.Identity"/>), its device CA and identities, its signing keys certified by the
/// fleet's root. The first model's node publishes the catalogue devices choose their lines from.
/// </summary>
public sealed class ModelLineHost : IAsyncDisposable
{
    private readonly List<AggregatorNode> _nodes = [];

    private ModelLineHost()
    {
    }

    /// <summary>Each line's node, in the configured order.</summary>
    public IReadOnlyList<AggregatorNode> Nodes => _nodes;

    /// <summary>The node of line <paramref name="name"/>.</summary>
    public AggregatorNode this[string name] => _nodes.Single(n => n.Options.Line == name);

    /// <summary>Composes and starts every line of <paramref name="fleet"/>, which must have started (its broker is theirs).</summary>
    /// <param name="fleet">The fleet's first model's node, started.</param>
    /// <param name="loggers">Where the lines log.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <param name="time">The lines' clock (the system's by default).</param>
    /// <param name="evaluators">A line's held-out evaluator (the simulator's); by default the line's <c>Evaluation:DataFile</c>, if any.</param>
    public static async Task<ModelLineHost> StartAsync(AggregatorNode fleet, ILoggerFactory loggers, CancellationToken cancellationToken, TimeProvider? time = null, Func<ModelLineOptions, IModelEvaluator?>? evaluators = null)
    {
        var host = new ModelLineHost();
        try
        {
            foreach (var line in fleet.Options.Lines)
            {
                var evaluator = evaluators is not null ? evaluators(line) : line.Options.EvaluationDataFile is { } file ? HeldOutFile.Load(file, line.Options.Model) : null;
                var node = new AggregatorNode(line.Options, loggers, time, evaluator, fleet.ChannelsAs(line.Identity), fleet.Security);
                host._nodes.Add(node);
                await node.StartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return host;
    }

    /// <summary>Every line's rounds (<see cref="AggregatorNode.RunRoundsAsync"/>), side by side.</summary>
    public Task RunRoundsAsync(CancellationToken cancellationToken) => Task.WhenAll(_nodes.Select(n => n.RunRoundsAsync(cancellationToken)));

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Enumerable.Reverse(_nodes)) await node.DisposeAsync().ConfigureAwait(false);
        _nodes.Clear();
    }
}
