using System.Security.Cryptography;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Models;

/// <summary>An artifact that failed verification: wrong size, wrong hash, too large, or unreachable.</summary>
public sealed class ArtifactRejectedException(string reason) : Exception(reason);

/// <summary>How slow a download may be before it is abandoned (TUF's slow-retrieval attack).</summary>
/// <param name="MinBytesPerSecond">The overall deadline is <see cref="Grace"/> plus the declared size at this rate.</param>
/// <param name="Grace">Fixed allowance on top of the size-based deadline (connection set-up, headers).</param>
/// <param name="Stall">No byte for this long ends the download.</param>
public sealed record DownloadLimits(long MinBytesPerSecond, TimeSpan Grace, TimeSpan Stall)
{
    public static readonly DownloadLimits Default = new(16 * 1024, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(15));

    public TimeSpan Deadline(ulong size) => Grace + TimeSpan.FromSeconds((double)size / MinBytesPerSecond);
}

/// <summary>
/// Downloads content-addressed artifacts over HTTP(S) and verifies them before anyone uses
/// them: the read stops at the declared size (an endless body cannot exhaust memory), a download
/// slower than <see cref="DownloadLimits"/> is abandoned (a server trickling bytes cannot hold the
/// device), and the sha256 must match.
/// </summary>
public sealed class ArtifactFetcher(HttpClient http, long maxBytes, DownloadLimits? limits = null)
{
    private readonly DownloadLimits _limits = limits ?? DownloadLimits.Default;

    public async Task<byte[]> FetchAsync(Uri baseUrl, ArtifactRef artifact, CancellationToken cancellationToken)
    {
        if (artifact.Size == 0 || artifact.Size > (ulong)maxBytes)
        {
            throw new ArtifactRejectedException($"artifact {artifact.Name} declares {artifact.Size} bytes (limit {maxBytes})");
        }

        var deadline = _limits.Deadline(artifact.Size);
        using var overall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        overall.CancelAfter(deadline);
        try
        {
            return await DownloadAsync(baseUrl, artifact, overall.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ArtifactRejectedException($"artifact {artifact.Name} too slow: not complete within {deadline.TotalSeconds:F0} s or no data for {_limits.Stall.TotalSeconds:F0} s (slow retrieval?)");
        }
    }

    private async Task<byte[]> DownloadAsync(Uri baseUrl, ArtifactRef artifact, CancellationToken cancellationToken)
    {

        var uri = new Uri(baseUrl, artifact.Path);
        using var response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw new ArtifactRejectedException($"GET {uri} returned {(int)response.StatusCode}");
        }

        var buffer = new byte[artifact.Size];
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var read = 0;
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        while (read < buffer.Length)
        {
            stall.CancelAfter(_limits.Stall);
            var n = await stream.ReadAsync(buffer.AsMemory(read), stall.Token).ConfigureAwait(false);
            if (n == 0) throw new ArtifactRejectedException($"artifact {artifact.Name} ended after {read} of {buffer.Length} bytes");
            read += n;
        }

        var probe = new byte[1];
        stall.CancelAfter(_limits.Stall);
        if (await stream.ReadAsync(probe, stall.Token).ConfigureAwait(false) != 0)
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
