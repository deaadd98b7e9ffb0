using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>Channels over MQTT 5 (MQTTnet) to one broker endpoint.</summary>
public sealed class MqttChannelFactory(MqttEndpoint endpoint) : IFleetChannelFactory
{
    public MqttEndpoint Endpoint { get; } = endpoint;

    public string Address => Endpoint.ToString();

    public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) =>
        new MqttTransport(
            new MqttTransportOptions(options.ClientId, Endpoint)
            {
                CleanStart = options.CleanStart,
                SessionExpirySeconds = options.SessionExpirySeconds,
                KeepAlive = options.KeepAlive,
                Will = options.Will,
            },
            loggers.CreateLogger<MqttTransport>());
}
