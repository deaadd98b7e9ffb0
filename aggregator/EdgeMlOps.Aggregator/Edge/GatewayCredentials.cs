using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// What a gateway needs from its fleet, issued by the fleet's aggregator (<c>edgemlops-aggregator --issue-gateway ID</c>)
/// into one directory: the fleet CA's certificate (to trust the fleet's broker and check its devices' certificates), the
/// gateway's client certificate (<c>OU=gateway</c>: its identity at the fleet's broker), a server certificate for its
/// site's broker, and the fleet's trust root (the gateway verifies every task it acts on). Keys are owner-only files.
/// </summary>
public sealed record GatewayCredentials(string GatewayId, X509Certificate2 FleetCa, X509Certificate2 Client, X509Certificate2 SiteServer, byte[] RootPublicKey) : IDisposable
{
    public const string CaFile = "ca.crt";
    public const string ClientFile = "gateway.crt";
    public const string ClientKeyFile = "gateway.key";
    public const string SiteFile = "site-broker.crt";
    public const string SiteKeyFile = "site-broker.key";
    public const string RootFile = "root.pub";

    /// <summary>How long a gateway's certificates are valid: issue new ones before then.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);

    /// <summary>Writes gateway <paramref name="gatewayId"/>'s credentials into <paramref name="directory"/> (its site broker named by <paramref name="hosts"/>, localhost and 127.0.0.1).</summary>
    public static void Write(FleetSecurity security, byte[] rootPublicKey, string gatewayId, string directory, IEnumerable<string> hosts, DateTimeOffset now)
    {
        if (!Shared.Protocol.Topics.IsValidSegment(gatewayId)) throw new ArgumentException($"'{gatewayId}' is not a gateway id (a topic segment)", nameof(gatewayId));
        Directory.CreateDirectory(directory);
        var ca = security.Authority;
        File.WriteAllText(Path.Combine(directory, CaFile), ca.Certificate.ExportCertificatePem());
        using (var client = ca.IssueClientWithKey(new FleetIdentity(gatewayId, FleetRole.Gateway, ca.Fleet), now, Lifetime)) WritePair(directory, ClientFile, ClientKeyFile, client);
        using (var site = ca.IssueServer(["localhost", "127.0.0.1", "::1", .. hosts], now, Lifetime)) WritePair(directory, SiteFile, SiteKeyFile, site);
        File.WriteAllText(Path.Combine(directory, RootFile), Convert.ToBase64String(rootPublicKey) + "\n");
    }

    /// <summary>Reads a gateway's credentials; a missing or unreadable file is named in the exception.</summary>
    public static GatewayCredentials Load(string directory)
    {
        string Need(string file) => File.Exists(Path.Combine(directory, file)) ? Path.Combine(directory, file)
            : throw new FileNotFoundException($"gateway credentials: {Path.Combine(directory, file)} is missing (edgemlops-aggregator --issue-gateway ID writes them)", file);
        var ca = CertificateChain.LoadPem(File.ReadAllText(Need(CaFile)));
        var client = Reloaded(X509Certificate2.CreateFromPemFile(Need(ClientFile), Need(ClientKeyFile)));
        var site = Reloaded(X509Certificate2.CreateFromPemFile(Need(SiteFile), Need(SiteKeyFile)));
        if (FleetIdentity.FromCertificate(client) is not { Role: FleetRole.Gateway } who) throw new InvalidDataException($"gateway credentials: {ClientFile} is not a gateway certificate");
        var root = Convert.FromBase64String(File.ReadAllText(Need(RootFile)).Trim());
        return new GatewayCredentials(who.Id, ca, client, site, root);
    }

    public void Dispose()
    {
        FleetCa.Dispose();
        Client.Dispose();
        SiteServer.Dispose();
    }

    private static void WritePair(string directory, string certificateFile, string keyFile, X509Certificate2 certificate)
    {
        File.WriteAllText(Path.Combine(directory, certificateFile), certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey()!;
        OwnerOnlyFile.WriteAllText(Path.Combine(directory, keyFile), key.ExportPkcs8PrivateKeyPem());
    }

    // A PEM pair's key is ephemeral; TLS on Linux wants it in a loaded PKCS#12 (as every certificate the CA issues in memory).
    private static X509Certificate2 Reloaded(X509Certificate2 pair)
    {
        using (pair) return X509CertificateLoader.LoadPkcs12(pair.Export(X509ContentType.Pkcs12), null);
    }
}
