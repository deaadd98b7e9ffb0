using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// How a standing-by replica reaches the broker: the external broker (the embedded one has no shared subscriptions),
/// over TLS with a certificate of its own from the fleet CA in the shared data directory — common name
/// <c>aggregator-replica-{name}</c>, which the generated Mosquitto ACL lets read device updates and nothing else.
/// </summary>
public static class ReplicaChannels
{
    /// <summary>What keeps a host process from running as a replica, or null.</summary>
    public static string? Problem(AggregatorOptions options)
    {
        if (!options.Replicas.Enabled) return null;
        if (options.ExternalBroker is null) return "Aggregator:Replicas:Name: replicas need an external broker with MQTT 5 shared subscriptions (Aggregator:Broker=mqtts://…, e.g. Mosquitto); the embedded broker has none";
        if (options.Store.LeaderLeaseSeconds <= 0) return "Aggregator:Replicas:Name: replicas elect their coordinator with the leader lease: set Aggregator:Store:LeaderLeaseSeconds";
        return null;
    }

    /// <summary>The fleet's (<paramref name="fleet"/>: its broker, the CA in its data directory) for the replica certificate <paramref name="name"/> — a model line's worker's too.</summary>
    public static IFleetChannelFactory For(AggregatorOptions fleet, string name, TimeProvider time)
    {
        var broker = fleet.ExternalBroker ?? throw new InvalidOperationException(Problem(fleet));
        if (!broker.Tls) return new MqttChannelFactory(broker, null);
        var authority = new FleetCertificateAuthority(Path.Combine(fleet.DataDirectory, "pki"), fleet.Fleet, time.GetUtcNow());
        var identity = new FleetIdentity(name, FleetRole.Aggregator, fleet.Fleet);
        var certificate = new RenewingCertificate(now => authority.IssueClientWithKey(identity, now, FleetSecurity.AggregatorCertificateLifetime), time);
        return new MqttChannelFactory(broker, new MqttTlsSettings(authority.Certificate, _ => certificate.Current));
    }
}
