using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Security;

namespace EdgeMlOps.Runtime.Tests;

/// <summary>Identities read from certificate subjects: a gateway's common name carries its client id, so no broker can take it for a device.</summary>
public class FleetIdentityTests
{
    private static X509Certificate2 WithSubject(X500DistinguishedName subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return new CertificateRequest(subject, key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
    }

    [Fact]
    public void AGatewaysCommonName_IsItsClientId_AndReadsBackAsTheGateway()
    {
        var gateway = new FleetIdentity("site-a", FleetRole.Gateway, "f");
        Assert.Contains("CN=gateway-site-a", gateway.ToSubject().Name, StringComparison.Ordinal);
        using var certificate = WithSubject(gateway.ToSubject());
        Assert.Equal(gateway, FleetIdentity.FromCertificate(certificate));

        var device = new FleetIdentity("site-a", FleetRole.Device, "f");
        using var deviceCertificate = WithSubject(device.ToSubject());
        Assert.Equal(device, FleetIdentity.FromCertificate(deviceCertificate)); // a device keeps its plain name
    }

    [Fact]
    public void AGatewayCertificateWithoutTheGatewayPrefix_IsNotOneOfOurs()
    {
        using var certificate = WithSubject(new X500DistinguishedName("CN=site-a, OU=gateway, O=f"));
        Assert.Null(FleetIdentity.FromCertificate(certificate));
        using var bare = WithSubject(new X500DistinguishedName("CN=gateway-, OU=gateway, O=f"));
        Assert.Null(FleetIdentity.FromCertificate(bare));
    }
}
