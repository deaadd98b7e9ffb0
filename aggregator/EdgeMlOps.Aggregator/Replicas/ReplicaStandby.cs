using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// What a replica that is not the coordinator runs: a <see cref="ReplicaWorker"/> for the fleet's first model and one
/// for each model line whose updates are shared (<see cref="Lines.ModelLineOptions"/> with replicas on), each on a
/// connection of its own under its own certificate name (<see cref="ReplicaOptions.Identity"/>), so a broker that takes
/// the name as the client id keeps every session apart. A line added at run time is shared from the replicas' next start;
/// until then the coordinator takes all of its updates.
/// </summary>
public sealed class ReplicaStandby : IAsyncDisposable
{
    private readonly List<ReplicaWorker> _workers = [];

    /// <summary>The workers of replica <paramref name="fleet"/>.Replicas.Name; <paramref name="channels"/> gives each its connection by certificate name.</summary>
    public ReplicaStandby(AggregatorOptions fleet, Func<string, IFleetChannelFactory> channels, TimeProvider time, ILoggerFactory loggers)
    {
        if (!fleet.Replicas.Enabled) throw new ArgumentException("Aggregator:Replicas:Name is not set", nameof(fleet));
        try
        {
            _workers.Add(new ReplicaWorker(fleet, channels(fleet.Replicas.Identity), time, loggers));
            foreach (var line in fleet.Lines.Where(l => l.Options.Replicas.Enabled))
            {
                // The line's settings with this replica's name (the line was read with the fleet's, which may be another's).
                var shared = line.Options with { Replicas = fleet.Replicas with { Line = line.Name } };
                _workers.Add(new ReplicaWorker(shared, channels(shared.Replicas.Identity), time, loggers));
            }
        }
        catch
        {
            foreach (var worker in _workers) worker.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    /// <summary>For a host process: each worker over TLS with a certificate of its own from the fleet CA (<see cref="ReplicaChannels"/>).</summary>
    public static ReplicaStandby ForHost(AggregatorOptions fleet, TimeProvider time, ILoggerFactory loggers) =>
        new(fleet, name => ReplicaChannels.For(fleet, name, time), time, loggers);

    public string Name => _workers[0].Name;

    /// <summary>Updates of the fleet's first model this replica took.</summary>
    public long Accepted => _workers[0].Accepted;

    /// <summary>Updates of each model line this replica took, by line.</summary>
    public IReadOnlyDictionary<string, long> AcceptedByLine =>
        _workers.Skip(1).ToDictionary(w => w.Line!, w => w.Accepted, StringComparer.Ordinal);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var worker in _workers) await worker.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every worker dies at once (<see cref="ReplicaWorker.Abort"/>): a killed replica.</summary>
    public void Abort()
    {
        foreach (var worker in _workers) worker.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers) await worker.DisposeAsync().ConfigureAwait(false);
    }
}
