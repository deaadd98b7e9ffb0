using System.Net;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Models;

public class ArtifactFetcherTests
{
    private static readonly Uri Base = new("http://aggregator.test/");
    private static readonly byte[] Good = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();

    private sealed class FixedResponse(byte[] body, HttpStatusCode status = HttpStatusCode.OK) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult(new HttpResponseMessage(status) { Content = new ByteArrayContent(body) });
        }
    }

    private static ArtifactRef Ref(byte[] declared, ulong? size = null) =>
        new() { Name = "model.onnx", Sha256 = ContentHash.Sha256Hex(declared), Size = size ?? (ulong)declared.Length, Path = "/v1/artifacts/x" };

    [Fact]
    public async Task Fetch_MatchingBytes_Succeeds()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new FixedResponse(Good)), 1 << 20);
        Assert.Equal(Good, await fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
    }

    [Fact]
    public async Task Fetch_TamperedBytes_AreRejected()
    {
        var tampered = (byte[])Good.Clone();
        tampered[100] ^= 1;
        var fetcher = new ArtifactFetcher(new HttpClient(new FixedResponse(tampered)), 1 << 20);
        var ex = await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
        Assert.Contains("sha256", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_BodyLongerThanDeclared_IsRejected()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new FixedResponse(Good.Concat(new byte[10]).ToArray())), 1 << 20);
        var ex = await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
        Assert.Contains("larger", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fetch_TruncatedBody_IsRejected()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new FixedResponse(Good[..100])), 1 << 20);
        await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
    }

    [Fact]
    public async Task Fetch_DeclaredSizeOverLimit_IsRejectedWithoutDownloading()
    {
        var handler = new FixedResponse(Good);
        var fetcher = new ArtifactFetcher(new HttpClient(handler), 1000);
        await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
        Assert.Equal(0, handler.Calls);
    }

    [Fact]
    public async Task Fetch_HttpError_IsRejected()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new FixedResponse([], HttpStatusCode.NotFound)), 1 << 20);
        await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
    }
}
