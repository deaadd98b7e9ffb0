using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Shared.Security;

/// <summary>
/// HTTP for fleet members: an <c>https://</c> server must hold a certificate from the pinned fleet CA for
/// the host asked for (enrollment, artifacts); the operating system's trust store plays no part.
/// Plain <c>http://</c> URLs are unaffected.
/// </summary>
public static class PinnedHttp
{
    public static SocketsHttpHandler Handler(X509Certificate2 fleetCa) => new()
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null
                && (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0
                && Trusted(certificate, fleetCa),
        },
    };

    /// <summary>Issued by the fleet CA and valid now; otherwise the reason is thrown, so the caller's error says it (a wrong clock, another fleet's CA), not only that TLS failed.</summary>
    private static bool Trusted(X509Certificate certificate, X509Certificate2 fleetCa) =>
        CertificateChain.IsIssuedBy(certificate, fleetCa, DateTimeOffset.UtcNow, out var error)
            ? true
            : throw new System.Security.Authentication.AuthenticationException($"the server's certificate is refused: {error}");
}
