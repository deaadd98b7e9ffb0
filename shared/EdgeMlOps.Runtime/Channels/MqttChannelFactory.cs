using EdgeMlOps.Runtime.Mqtt;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>Channels over MQTT 5 (MQTTnet) to one broker endpoint; over TLS with a client certificate when the endpoint says <c>mqtts</c>.</summary>
public sealed class MqttChannelFactory(MqttEndpoint endpoint, MqttTlsSettings? tls = null) : IFleetChannelFactory
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
                Tls = tls,
            },
            loggers.CreateLogger<MqttTransport>());
}
