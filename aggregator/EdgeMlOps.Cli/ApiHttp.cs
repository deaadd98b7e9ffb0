using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Cli;

/// <summary>
/// The CLI's HTTP client for the admin API: over https it trusts only the fleet CA given with
/// <c>--ca</c> (or <c>EDGEMLOPS_CA</c>, or the aggregator's own <c>aggregator-data/pki/ca.crt</c> when run
/// beside it), falling back to the system's trust store when none is found.
/// </summary>
internal static class ApiHttp
{
    public const string DefaultUrl = "https://127.0.0.1:8443";
    public const string DefaultCaFile = "aggregator-data/pki/ca.crt";

    public static FileInfo? DefaultCa() =>
        Environment.GetEnvironmentVariable("EDGEMLOPS_CA") is { Length: > 0 } path ? new FileInfo(path)
        : File.Exists(DefaultCaFile) ? new FileInfo(DefaultCaFile)
        : null;

    public static HttpClient Create(Uri baseUrl, FileInfo? ca)
    {
        if (baseUrl.Scheme != Uri.UriSchemeHttps || ca is null) return new HttpClient();
        if (!ca.Exists) throw new IOException($"--ca {ca.FullName}: no such file");
        System.Security.Cryptography.X509Certificates.X509Certificate2 pinned;
        try
        {
            pinned = CertificateChain.LoadPem(File.ReadAllText(ca.FullName));
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw new IOException($"--ca {ca.FullName}: not a PEM certificate ({ex.Message.TrimEnd('.')}); pass the fleet CA, {DefaultCaFile} beside the aggregator", ex);
        }

        return new HttpClient(PinnedHttp.Handler(pinned));
    }
}
