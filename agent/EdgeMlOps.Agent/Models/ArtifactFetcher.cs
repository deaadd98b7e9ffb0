using System.Security.Cryptography;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Models;

/// <summary>An artifact that failed verification: wrong size, wrong hash, too large, or unreachable.</summary>
public sealed class ArtifactRejectedException(string reason) : Exception(reason);

/// <summary>
/// Downloads content-addressed artifacts over HTTP(S) and verifies them before anyone uses
/// them: the read stops at the declared size (an endless body cannot exhaust memory) and the
/// sha256 must match.
/// </summary>
public sealed class ArtifactFetcher(HttpClient http, long maxBytes)
{
    public async Task<byte[]> FetchAsync(Uri baseUrl, ArtifactRef artifact, CancellationToken cancellationToken)
    {
        if (artifact.Size == 0 || artifact.Size > (ulong)maxBytes)
        {
            throw new ArtifactRejectedException($"artifact {artifact.Name} declares {artifact.Size} bytes (limit {maxBytes})");
        }

        var uri = new Uri(baseUrl, artifact.Path);
        using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new ArtifactRejectedException($"GET {uri} returned {(int)response.StatusCode}");
        }

        var buffer = new byte[artifact.Size];
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (n == 0) throw new ArtifactRejectedException($"artifact {artifact.Name} ended after {read} of {buffer.Length} bytes");
            read += n;
        }

        var probe = new byte[1];
        if (await stream.ReadAsync(probe, cancellationToken).ConfigureAwait(false) != 0)
        {
            throw new ArtifactRejectedException($"artifact {artifact.Name} is larger than its declared {buffer.Length} bytes");
        }

        var actual = Convert.ToHexStringLower(SHA256.HashData(buffer));
        if (!string.Equals(actual, artifact.Sha256, StringComparison.Ordinal))
        {
            throw new ArtifactRejectedException($"artifact {artifact.Name} has sha256 {actual}, expected {artifact.Sha256}");
        }

        return buffer;
    }
}
