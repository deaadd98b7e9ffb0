namespace EdgeMlOps.Agent;

/// <summary>Counters an operator (or a simulator) reads off a running agent.</summary>
public sealed class AgentCounters
{
    public long TasksReceived;
    /// <summary>Updates and evaluations produced and queued in the outbox.</summary>
    public long UpdatesProduced;
    /// <summary>Outbox messages the broker acknowledged.</summary>
    public long OutboxSent;
    /// <summary>Outbox sends the broker reported no session took (kept and sent again later).</summary>
    public long OutboxUnheard;
    public long TasksSkipped;
    public long MalformedMessages;
    public long ModelInstalls;
    public long ModelInstallFailures;
    /// <summary>Downloads stopped because a signed rollback directive arrived while they were in flight.</summary>
    public long InstallsPreempted;
    public long Predictions;
    /// <summary>Samples the declared front end refused (values that made a count outside the signed range): answered 422, or left out of training.</summary>
    public long SamplesRefused;
    public long ArtifactBytes;
}
