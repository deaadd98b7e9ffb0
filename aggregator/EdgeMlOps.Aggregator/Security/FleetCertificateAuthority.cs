using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// The fleet's device CA: an ECDSA P-256 key and self-signed certificate kept in
/// <c>{data}/pki</c> (key readable by the owner only), created on first start. It issues the
/// short-lived client certificates devices enroll for, the broker's server certificate and the
/// aggregator's own client certificate. It is separate from the model-signing root: a stolen
/// device CA lets an attacker join the fleet, never sign a model.
/// </summary>
public sealed class FleetCertificateAuthority : IDisposable
{
    public const string CertificateFile = "ca.crt";
    public const string KeyFile = "ca.key";

    private readonly ECDsa _key;

    public FleetCertificateAuthority(string directory, string fleet, DateTimeOffset now)
    {
        Fleet = fleet;
        Directory.CreateDirectory(directory);
        Runtime.Storage.AtomicFile.RemoveAbandoned(directory, EdgeMlOps.Aggregator.Registry.ArtifactStore.AbandonedAfter); // a key's or token's write a crash cut short
        var certificatePath = Path.Combine(directory, CertificateFile);
        var keyPath = Path.Combine(directory, KeyFile);
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (File.Exists(certificatePath) && File.Exists(keyPath))
        {
            Trust.KeyMaterialException.Read(keyPath, () =>
            {
                _key.ImportFromPem(File.ReadAllText(keyPath));
                return true;
            });
            Certificate = Trust.KeyMaterialException.Read(certificatePath, () => X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath)));
            using var certified = Certificate.GetECDsaPublicKey();
            if (certified is null || !certified.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(_key.ExportSubjectPublicKeyInfo()))
                throw Trust.KeyMaterialException.Damaged(keyPath, $"it is not the key of {CertificateFile}: the two come from different backups or fleets");
            return;
        }

        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName(fleet);
        subject.AddCommonName($"EdgeMlOps device CA ({fleet})");
        var request = new CertificateRequest(subject.Build(), _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
        Certificate = X509CertificateLoader.LoadCertificate(created.RawData);
        OwnerOnlyFile.WriteAllText(keyPath, _key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certificatePath, Certificate.ExportCertificatePem());
    }

    public string Fleet { get; }

    /// <summary>The CA certificate (no key): what devices and the aggregator pin.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>SHA-256 of the CA certificate, hex: what an operator compares out of band.</summary>
    public string Fingerprint => Convert.ToHexStringLower(Certificate.GetCertHash(HashAlgorithmName.SHA256));

    /// <summary>A client certificate for <paramref name="identity"/> over a key the requester holds (from its CSR).</summary>
    public X509Certificate2 IssueClient(FleetIdentity identity, PublicKey publicKey, DateTimeOffset now, TimeSpan lifetime)
    {
        var request = new CertificateRequest(identity.ToSubject(), publicKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        return Sign(request, now, lifetime);
    }

    /// <summary>A client certificate with a fresh key (the aggregator's own, and operators' tools).</summary>
    public X509Certificate2 IssueClientWithKey(FleetIdentity identity, DateTimeOffset now, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = IssueClient(identity, new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).PublicKey, now, lifetime);
        return CertificateChain.WithKey(certificate, key);
    }

    /// <summary>The broker's TLS certificate for the given host names and addresses, with its key.</summary>
    public X509Certificate2 IssueServer(IEnumerable<string> hosts, DateTimeOffset now, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddOrganizationName(Fleet);
        subject.AddCommonName($"EdgeMlOps broker ({Fleet})");
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in hosts.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (IPAddress.TryParse(host, out var address)) names.AddIpAddress(address);
            else names.AddDnsName(host);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = Sign(request, now, lifetime);
        return CertificateChain.WithKey(certificate, key);
    }

    /// <summary>A CRL (PEM) listing <paramref name="revokedSerials"/> (hex), valid for a week, for brokers that check one.</summary>
    public string RevocationList(IEnumerable<string> revokedSerials, DateTimeOffset now)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var serial in revokedSerials) builder.AddEntry(Convert.FromHexString(serial), now);
        using var issuer = Certificate.CopyWithPrivateKey(_key);
        var der = builder.Build(issuer, new System.Numerics.BigInteger(now.ToUnixTimeSeconds()), now.AddDays(7), HashAlgorithmName.SHA256);
        return PemEncoding.WriteString("X509 CRL", der);
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }

    private X509Certificate2 Sign(CertificateRequest request, DateTimeOffset now, TimeSpan lifetime)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        var notAfter = now + lifetime;
        if (notAfter > Certificate.NotAfter) notAfter = Certificate.NotAfter;
        return request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), now.AddMinutes(-5), notAfter, serial);
    }

}
