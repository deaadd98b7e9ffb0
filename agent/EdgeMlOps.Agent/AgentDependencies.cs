using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent;

/// <summary>What an agent is given rather than creates, so a simulator can inject its own.</summary>
public sealed class AgentDependencies
{
    public required SampleStore Store { get; init; }

    public required HttpClient Http { get; init; }

    /// <summary>Store-and-forward queue for updates and evaluations.</summary>
    public required Outbox Outbox { get; init; }

    /// <summary>Installed model versions on disk (current and previous).</summary>
    public required ModelStore Models { get; init; }

    public ModelRuntimes Runtimes { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    public AgentFaults Faults { get; init; } = AgentFaults.None;

    /// <summary>What the host had to do to its stores at start (a quarantined corrupt file), reported in status and health.</summary>
    public IReadOnlyList<string> StorageNotices { get; init; } = [];

    /// <summary>Why the data directory takes no writes (the host found it read-only and gave the agent in-memory stores), or null.</summary>
    public string? ReadOnlyStorage { get; init; }

    /// <summary>Opens the agent's fleet channel; MQTT to <see cref="AgentOptions.Broker"/> when not set (a simulator passes an in-memory hub or a faulty decorator).</summary>
    public IFleetChannelFactory? Channels { get; init; }

    /// <summary>
    /// The device's certificate for a TLS broker; by default the agent keeps its own in the model store's
    /// <c>identity/</c> directory and enrolls with <see cref="AgentOptions.Enrollment"/>. Not used when
    /// <see cref="Channels"/> is set (whoever opens the channels authenticates them).
    /// </summary>
    public Security.DeviceIdentity? Identity { get; init; }

    /// <summary>Limits concurrent local training (a simulator shares one across its devices).</summary>
    public SemaphoreSlim? ComputeSlots { get; init; }
}
