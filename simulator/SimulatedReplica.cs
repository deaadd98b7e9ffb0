using EdgeMlOps.Aggregator.Replicas;

namespace EdgeMlOps.Simulator;

/// <summary>An aggregator replica beside a simulated fleet's coordinator: in this process, or in a child process of its own.</summary>
public interface ISimulatedReplica : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Device updates it folded into its shares (a child process: as it last said).</summary>
    long Accepted { get; }

    /// <summary>Each model line's updates it folded into its shares (a child process: not reported).</summary>
    IReadOnlyDictionary<string, long> AcceptedByLine { get; }

    /// <summary>Fault: it dies at once — its connection dropped without a goodbye, no last share written.</summary>
    void Crash();
}

/// <summary>A replica's workers (the first model's and each shared line's) in the simulator's own process; a crash aborts them.</summary>
internal sealed class InProcessReplica(ReplicaStandby worker) : ISimulatedReplica
{
    public string Name => worker.Name;

    public long Accepted => worker.Accepted;

    public IReadOnlyDictionary<string, long> AcceptedByLine => worker.AcceptedByLine;

    public void Crash() => worker.Abort();

    public ValueTask DisposeAsync() => worker.DisposeAsync();
}
