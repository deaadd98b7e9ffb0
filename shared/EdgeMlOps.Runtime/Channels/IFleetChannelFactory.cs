using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>Opens channels to one broker (a real MQTT broker, or an in-memory hub). Hosts and the simulator choose it; the agent and aggregator only use it.</summary>
public interface IFleetChannelFactory
{
    /// <summary>A human-readable address of the broker (for logs and status lines).</summary>
    string Address { get; }

    IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers);
}
