using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Shared.Security;

/// <summary>Chain checks against one pinned fleet CA; the operating system's trust store plays no part.</summary>
public static class CertificateChain
{
    /// <summary>
    /// True when <paramref name="certificate"/> was issued by <paramref name="anchor"/> and is valid at <paramref name="at"/>.
    /// A certificate that parses but that OpenSSL cannot build a chain for (a mangled extension or key) is not.
    /// </summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2 anchor, DateTimeOffset at, out string error)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(anchor);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        try
        {
            if (chain.Build(certificate))
            {
                error = string.Empty;
                return true;
            }
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            error = "the certificate cannot be checked: " + ex.Message;
            return false;
        }

        error = ClockProblem(certificate, anchor, at)
            ?? string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted chain"));
        return false;
    }

    /// <summary>
    /// A certificate of the chain not valid at <paramref name="at"/>, said with the clock that judged it: on a device
    /// without a battery-backed clock, or booted before NTP answered, the clock is what to fix. Null when both are valid then.
    /// </summary>
    private static string? ClockProblem(X509Certificate2 certificate, X509Certificate2 anchor, DateTimeOffset at)
    {
        foreach (var (which, cert) in new[] { ("the certificate", certificate), ("the fleet CA", anchor) })
        {
            var (from, to) = (new DateTimeOffset(cert.NotBefore.ToUniversalTime()), new DateTimeOffset(cert.NotAfter.ToUniversalTime()));
            var clock = $"this machine's clock reads {Utc(at)}";
            if (at < from) return $"{which} ({cert.Subject}) is not valid before {Utc(from)}, and {clock}: is its time set (NTP)?";
            if (at > to) return $"{which} ({cert.Subject}) expired at {Utc(to)}; {clock}";
        }

        return null;
    }

    private static string Utc(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The same check for a certificate a TLS peer presented (any <see cref="X509Certificate"/>).</summary>
    public static bool IsIssuedBy(X509Certificate presented, X509Certificate2 anchor, DateTimeOffset at, out string error)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        return IsIssuedBy(certificate, anchor, at, out error);
    }

    /// <summary>
    /// <paramref name="certificate"/> with <paramref name="key"/>, loaded through PKCS#12: SslStream on Linux wants a
    /// key that came that way rather than an ephemeral handle.
    /// </summary>
    public static X509Certificate2 WithKey(X509Certificate2 certificate, System.Security.Cryptography.ECDsa key)
    {
        using var withKey = certificate.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>When a certificate is due for renewal: after two thirds of its life.</summary>
    public static DateTimeOffset RenewAt(X509Certificate2 certificate)
    {
        var from = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        var to = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        return from + (to - from) * 2 / 3;
    }

    /// <summary>Reads the first PEM certificate of a file or string.</summary>
    public static X509Certificate2 LoadPem(string pem) => X509Certificate2.CreateFromPem(pem);
}
