using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Shared.Tests.Security;

/// <summary>
/// A device whose clock is wrong (no battery-backed clock, booted before NTP answered) sees every fleet certificate as
/// not yet valid, or expired. The check said "certificate is not yet valid" at best — over HTTPS only "The SSL
/// connection could not be established" — and never that the device's own clock was the thing to fix.
/// </summary>
public class CertificateClockTests
{
    private static (X509Certificate2 Ca, X509Certificate2 Leaf) Chain(DateTimeOffset from, DateTimeOffset to)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=fleet CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ca = caRequest.CreateSelfSigned(from.AddDays(-1), to.AddDays(1));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leaf = new CertificateRequest("CN=aggregator", leafKey, HashAlgorithmName.SHA256).Create(ca, from, to, [1, 2, 3, 4]);
        return (ca, leaf);
    }

    [Fact]
    public void AClockBeforeTheCertificate_IsNamedAsTheClock()
    {
        var issued = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var (ca, leaf) = Chain(issued, issued.AddDays(30));
        var deviceClock = new DateTimeOffset(2020, 1, 2, 0, 0, 0, TimeSpan.Zero);

        Assert.False(CertificateChain.IsIssuedBy(leaf, ca, deviceClock, out var error));

        Assert.Contains("not valid before 2026-12-07T12:00:00Z", error, StringComparison.Ordinal);
        Assert.Contains("this machine's clock reads 2020-01-02T00:00:00Z: is its time set (NTP)?", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AClockPastTheCertificate_SaysExpired_WithTheClock()
    {
        var issued = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var (ca, leaf) = Chain(issued, issued.AddDays(30));

        Assert.False(CertificateChain.IsIssuedBy(leaf, ca, issued.AddDays(31), out var error));

        Assert.Contains("expired at 2027-01-06T12:00:00Z", error, StringComparison.Ordinal);
        Assert.Contains("this machine's clock reads 2027-01-07T12:00:00Z", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AValidChain_HasNoError()
    {
        var issued = new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
        var (ca, leaf) = Chain(issued, issued.AddDays(30));
        Assert.True(CertificateChain.IsIssuedBy(leaf, ca, issued.AddDays(1), out var error));
        Assert.Equal(string.Empty, error);
    }
}
