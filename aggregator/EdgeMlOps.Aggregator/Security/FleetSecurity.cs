using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Broker;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// The fleet's identity services in one place: the device CA, the security store and event log,
/// the broker guard, enrollment, and the aggregator's own client certificate.
/// </summary>
public sealed partial class FleetSecurity : IDisposable
{
    public const string TokenFile = "enrollment-token";
    public static readonly TimeSpan AggregatorCertificateLifetime = TimeSpan.FromDays(7);
    public static readonly TimeSpan BrokerCertificateLifetime = TimeSpan.FromDays(397);

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RenewingCertificate> _identities = new(StringComparer.Ordinal);

    public FleetSecurity(string dataDirectory, string fleet, SecurityOptions options, TimeProvider time, ILogger logger, DevicePublishLimits? limits = null, SecurityStore? store = null, Edge.EdgeOptions? edge = null)
    {
        _time = time;
        _logger = logger;
        Options = options;
        var pki = Path.Combine(dataDirectory, "pki");
        Authority = new FleetCertificateAuthority(pki, fleet, time.GetUtcNow());
        Store = store ?? new SecurityStore(Path.Combine(dataDirectory, "security.db"));
        Events = new SecurityEvents(Store, time, logger);
        Guard = new BrokerGuard(Authority.Certificate, fleet, new TopicAcl(new Topics(fleet), edge), Events, time, new PublishRateLimiter(options.DeviceMessagesPerSecond, options.DeviceMessageBurst, time), limits);
        foreach (var id in Store.RevokedDevices()) Guard.Revoke(id);
        TokenPath = Path.Combine(pki, TokenFile);
        FleetEnrollmentToken = options.EnrollmentToken ?? LoadOrCreateToken(TokenPath);
        Enrollment = new DeviceEnrollment(Authority, Store, Events, Guard, options, DeviceEnrollment.Sha256(FleetEnrollmentToken), time);
        SignIns = new SignInThrottle(options.MaxFailedSignInsPerMinute, time, address => Events.Record(SecurityEventKind.SignInThrottled, address,
            $"{options.MaxFailedSignInsPerMinute} failed sign-ins within a minute: answered 429 until the minute is out (Security:MaxFailedSignInsPerMinute)"));
        AggregatorCertificate = new RenewingCertificate(
            now => Authority.IssueClientWithKey(new FleetIdentity(FleetIdentity.AggregatorName, FleetRole.Aggregator, fleet), now, AggregatorCertificateLifetime), time);
    }

    public SecurityOptions Options { get; }

    public FleetCertificateAuthority Authority { get; }

    public SecurityStore Store { get; }

    public SecurityEvents Events { get; }

    public BrokerGuard Guard { get; }

    public DeviceEnrollment Enrollment { get; }

    /// <summary>Failed sign-ins (admin tokens, enrollment tokens, renewal proofs) per network address, and who must wait.</summary>
    public SignInThrottle SignIns { get; }

    /// <summary>The fleet enrollment token devices present on first start.</summary>
    public string FleetEnrollmentToken { get; }

    /// <summary>Where a generated fleet token is kept (owner-readable only).</summary>
    public string TokenPath { get; }

    public RenewingCertificate AggregatorCertificate { get; }

    /// <summary>How the aggregator's own MQTT client authenticates (its certificate) and whom it trusts (the fleet CA).</summary>
    public MqttTlsSettings ClientTls => new(Authority.Certificate, _ => AggregatorCertificate.Current);

    /// <summary>
    /// How another aggregator identity of this fleet authenticates (a model line's, <c>aggregator-line-{name}</c>): a
    /// certificate of its own from the fleet CA, renewed like the aggregator's.
    /// </summary>
    public MqttTlsSettings ClientTlsAs(string aggregatorIdentity)
    {
        if (!aggregatorIdentity.StartsWith(FleetIdentity.AggregatorName, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{aggregatorIdentity}' is not an aggregator identity (it begins with '{FleetIdentity.AggregatorName}')", nameof(aggregatorIdentity));
        }

        var certificate = _identities.GetOrAdd(aggregatorIdentity, id => new RenewingCertificate(
            now => Authority.IssueClientWithKey(new FleetIdentity(id, FleetRole.Aggregator, Authority.Fleet), now, AggregatorCertificateLifetime), _time));
        return new(Authority.Certificate, _ => certificate.Current);
    }

    /// <summary>The embedded broker's TLS listener for the given host names (plus localhost and this machine).</summary>
    public BrokerTls BrokerTls(IEnumerable<string> hosts) => new(ServerCertificate(hosts), Guard, Options.TlsHandshakeTimeout, Options.MaxPendingTlsHandshakes);

    /// <summary>A server certificate from the fleet CA (with its key) for the given host names, localhost, this machine and <see cref="SecurityOptions.BrokerHostNames"/>: the broker's and the HTTPS API's.</summary>
    public X509Certificate2 ServerCertificate(IEnumerable<string> hosts)
    {
        var names = new List<string> { "localhost", "127.0.0.1", "::1", Environment.MachineName };
        names.AddRange(hosts);
        names.AddRange(Options.BrokerHostNames);
        return Authority.IssueServer(names, _time.GetUtcNow(), BrokerCertificateLifetime);
    }

    /// <summary>A one-time (or <paramref name="uses"/>-time) enrollment token, optionally bound to one device id; only its hash is stored.</summary>
    public string CreateToken(string? deviceId, TimeSpan lifetime, int uses, string createdBy)
    {
        var token = NewToken();
        var now = _time.GetUtcNow();
        Store.AddToken(DeviceEnrollment.Sha256(token), deviceId, now + lifetime, uses, now, createdBy);
        return token;
    }

    /// <summary>Revokes a device: no new connection or certificate from now on, and its live connection is dropped.</summary>
    /// <summary>The embedded broker this security guards, once the fleet's first model started it (null behind an external broker).</summary>
    public EmbeddedBroker? Broker { get; internal set; }

    /// <summary>Revokes a device: recorded, refused from now on, and dropped from the embedded broker — whichever of the fleet's models asked.</summary>
    public async Task RevokeAsync(string deviceId, string reason, string revokedBy)
    {
        Store.Revoke(deviceId, reason, revokedBy, _time.GetUtcNow());
        Guard.Revoke(deviceId);
        Events.Record(SecurityEventKind.DeviceRevoked, deviceId, $"by {revokedBy}: {reason}");
        if (Broker is { } broker) await broker.DisconnectAsync(deviceId).ConfigureAwait(false);
    }

    /// <summary>A device certificate with a fresh key, for factory provisioning (written to the device with its key) and tests.</summary>
    public X509Certificate2 IssueDeviceCertificate(string deviceId)
    {
        var now = _time.GetUtcNow();
        var certificate = Authority.IssueClientWithKey(new FleetIdentity(deviceId, FleetRole.Device, Authority.Fleet), now, Options.DeviceCertificateLifetime);
        Store.RecordCertificate(deviceId, certificate.SerialNumber, certificate.NotAfter.ToUniversalTime(), now, SecurityStore.KeySha256(certificate.PublicKey));
        return certificate;
    }

    public void Dispose()
    {
        AggregatorCertificate.Dispose();
        foreach (var certificate in _identities.Values) certificate.Dispose();
        Authority.Dispose();
        Store.Dispose();
    }

    private string LoadOrCreateToken(string path)
    {
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        var token = NewToken();
        OwnerOnlyFile.WriteAllText(path, token + "\n");
        LogTokenCreated(path);
        return token;
    }

    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)).Replace('+', '-').Replace('/', '_');

    [LoggerMessage(EventId = 2301, Level = LogLevel.Information, Message = "Generated the fleet enrollment token in {Path}: give it to devices as Agent:Enrollment:TokenFile (or Agent:Enrollment:Token)")]
    private partial void LogTokenCreated(string path);
}
