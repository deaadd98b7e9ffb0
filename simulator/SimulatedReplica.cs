using EdgeMlOps.Aggregator.Replicas;

namespace EdgeMlOps.Simulator;

/// <summary>An aggregator replica beside a simulated fleet's coordinator: in this process, or in a child process of its own.</summary>
public interface ISimulatedReplica : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Device updates it folded into its shares (a child process: as it last said).</summary>
    long Accepted { get; }

    /// <summary>Fault: it dies at once — its connection dropped without a goodbye, no last share written.</summary>
    void Crash();
}

/// <summary>A replica worker in the simulator's own process; a crash aborts it.</summary>
internal sealed class InProcessReplica(ReplicaWorker worker) : ISimulatedReplica
{
    public string Name => worker.Name;

    public long Accepted => worker.Accepted;

    public void Crash() => worker.Abort();

    public ValueTask DisposeAsync() => worker.DisposeAsync();
}
