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

    /// <summary>A server that sends the right bytes, one every <paramref name="interval"/> (TUF's slow retrieval).</summary>
    private sealed class Trickle(byte[] body, TimeSpan interval) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new TrickleStream(body, interval)) });
    }

    private sealed class TrickleStream(byte[] body, TimeSpan interval) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => body.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_position == body.Length) return 0;
            await Task.Delay(interval, cancellationToken);
            buffer.Span[0] = body[_position++];
            return 1;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public async Task Fetch_FromAServerThatStalls_IsAbandoned()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new Trickle(Good, TimeSpan.FromSeconds(2))), 1 << 20, new DownloadLimits(1, TimeSpan.FromMinutes(5), Stall: TimeSpan.FromMilliseconds(300)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
        Assert.Contains("too slow", ex.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"gave up after {clock.Elapsed}");
    }

    [Fact]
    public async Task Fetch_TricklingJustFastEnoughNotToStall_StillMeetsTheOverallDeadline()
    {
        // A byte every 50 ms never stalls, but 5,000 bytes would take four minutes.
        var fetcher = new ArtifactFetcher(new HttpClient(new Trickle(Good, TimeSpan.FromMilliseconds(50))), 1 << 20, new DownloadLimits(100_000, TimeSpan.FromSeconds(1), Stall: TimeSpan.FromSeconds(5)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<ArtifactRejectedException>(() => fetcher.FetchAsync(Base, Ref(Good), CancellationToken.None));
        Assert.Contains("too slow", ex.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"gave up after {clock.Elapsed}");
    }

    [Fact]
    public async Task Fetch_CancelledByTheCaller_IsACancellation_NotARejection()
    {
        var fetcher = new ArtifactFetcher(new HttpClient(new Trickle(Good, TimeSpan.FromSeconds(1))), 1 << 20);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetcher.FetchAsync(Base, Ref(Good), cts.Token));
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
