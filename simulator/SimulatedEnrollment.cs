using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Agent.Security;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Runtime.Mqtt;

namespace EdgeMlOps.Simulator;

/// <summary>
/// How simulated devices join a TLS fleet, exactly as real ones do: each enrolls over HTTP with the
/// fleet token and a CSR over its own key, pins the fleet CA and connects with its own certificate.
/// </summary>
public sealed record SimulatedEnrollment(MqttEndpoint Broker, X509Certificate2 FleetCa, EnrollmentSettings Settings)
{
    /// <summary>Enrollment against an aggregator in this process (null when its broker is not TLS).</summary>
    public static SimulatedEnrollment? From(AggregatorNode aggregator) =>
        aggregator.BrokerEndpoint.Tls
            ? new SimulatedEnrollment(aggregator.BrokerEndpoint, aggregator.Security.Authority.Certificate, new EnrollmentSettings(aggregator.ArtifactBaseUrl, aggregator.Security.FleetEnrollmentToken))
            : null;

    /// <summary>The arguments that hand this enrollment to a worker process (the token through its owner-only file, never the command line).</summary>
    public static IEnumerable<string> Arguments(AggregatorNode aggregator) =>
        aggregator.BrokerEndpoint.Tls
            ? ["--fleet-ca", Path.Combine(aggregator.Options.DataDirectory, "pki", Aggregator.Security.FleetCertificateAuthority.CertificateFile), "--enroll-url", aggregator.ArtifactBaseUrl.ToString(), "--enroll-token-file", aggregator.Security.TokenPath]
            : [];

    /// <summary>Enrollment in a worker process, from the arguments its coordinator passed.</summary>
    public static SimulatedEnrollment? FromWorkerOptions(SimulationOptions options) =>
        options.FleetCaFile is { } ca && options.EnrollUrl is { } url && options.EnrollTokenFile is { } token && options.ExternalBroker is { Tls: true } broker
            ? new SimulatedEnrollment(broker, X509Certificate2.CreateFromPem(File.ReadAllText(ca)), new EnrollmentSettings(new Uri(url), File.ReadAllText(token).Trim()))
            : null;
}
