using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Runtime.Security;

/// <summary>Chain checks against one pinned fleet CA; the operating system's trust store plays no part.</summary>
public static class CertificateChain
{
    /// <summary>True when <paramref name="certificate"/> was issued by <paramref name="anchor"/> and is valid at <paramref name="at"/>.</summary>
    public static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2 anchor, DateTimeOffset at, out string error)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(anchor);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        if (chain.Build(certificate))
        {
            error = string.Empty;
            return true;
        }

        error = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).DefaultIfEmpty("untrusted chain"));
        return false;
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
