using EdgeMlOps.Agent.Security;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>How a test's agent joins a fleet: the aggregator's enrollment URL and fleet token, as a provisioned device has them.</summary>
internal static class Join
{
    public static EnrollmentSettings Enrollment(AggregatorNode node) => new(node.ArtifactBaseUrl, node.Security.FleetEnrollmentToken);

    /// <summary>Channels to the node's broker that authenticate as device <paramref name="deviceId"/> (a certificate issued for it).</summary>
    public static IFleetChannelFactory DeviceChannels(AggregatorNode node, string deviceId)
    {
        if (!node.BrokerEndpoint.Tls) return node.Channels;
        var certificate = node.Security.IssueDeviceCertificate(deviceId);
        return new MqttChannelFactory(node.BrokerEndpoint, new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate));
    }
}
