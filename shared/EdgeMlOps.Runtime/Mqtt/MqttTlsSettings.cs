using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>
/// How an MQTT client proves who it is and whom it trusts over TLS: the broker's certificate must
/// chain to <see cref="TrustAnchor"/> (the fleet CA the client pins, not the system store), and the
/// client presents the certificate <see cref="ClientCertificate"/> returns for its client id at each
/// (re)connection, so a renewed certificate is used from the next connection on.
/// </summary>
public sealed record MqttTlsSettings(X509Certificate2 TrustAnchor, Func<string, X509Certificate2?> ClientCertificate)
{
    /// <summary>Host name checked against the broker certificate (the endpoint's host by default).</summary>
    public string? TargetHost { get; init; }

    /// <summary>User name and password for brokers that ask for them besides (or instead of) a certificate.</summary>
    public (string User, string Password)? Credentials { get; init; }
}
