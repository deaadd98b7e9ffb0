using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// Mutation fuzzing of the agent's own HTTP/1.1 server (kept over Kestrel on measurement, so it must stand on its own):
/// thousands of valid requests with bytes flipped, inserted, deleted, duplicated or cut, and sizes swapped for huge
/// numbers. Every one is answered with a client-error status or closed — never a 500, never a hang past the request
/// timeout — and the server serves a valid request afterwards.
/// </summary>
public sealed class LocalHttpServerFuzzTests
{
    private static readonly string[] Seeds =
    [
        "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"features\":[1]}",
        "POST /v1/feedback HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "POST /v1/predict HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nabcd",
        "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
    ];

    private static readonly int[] Allowed = [200, 400, 404, 408, 413, 414, 417, 431, 501, 505];

    private sealed class EchoHandler : ILocalHttpHandler
    {
        public int Handle(LocalHttpRequest request, Utf8JsonWriter json)
        {
            json.WriteNumber("length", request.Body.Length);
            return 200;
        }
    }

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        for (var edits = random.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 16)).Select(_ => (byte)random.Next(256))); break;
                case 2: bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at)); break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break; // cut short
                case 4: bytes.InsertRange(at, bytes.GetRange(at, Math.Min(random.Next(1, 40), bytes.Count - at))); break;
                default:
                    var text = Encoding.Latin1.GetString([.. bytes]);
                    var digit = text.IndexOfAny("0123456789".ToCharArray(), at);
                    if (digit >= 0) bytes.InsertRange(digit, Encoding.ASCII.GetBytes(random.Next(2) == 0 ? "99999999999999999999" : "FFFFFFFF"));
                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>Sends the bytes, ends the sending side, and reads until the server closes; the first status code, or 0 for none.</summary>
    private static async Task<(int Status, bool Closed)> ExchangeAsync(EndPoint server, byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server);
        try
        {
            await socket.SendAsync(request);
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server already answered and closed (an early 4xx): what it said is still to be read.
        }

        var received = new MemoryStream();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0) received.Write(buffer, 0, read);
        }
        catch (OperationCanceledException)
        {
            return (0, false);
        }
        catch (SocketException)
        {
            // A reset after the response is a close too.
        }

        // An interim 100 Continue (an HTTP/1.1 request that asked for it) comes before the final status.
        var text = Encoding.Latin1.GetString(received.ToArray());
        while (text.StartsWith("HTTP/1.1 100 Continue\r\n\r\n", StringComparison.Ordinal)) text = text["HTTP/1.1 100 Continue\r\n\r\n".Length..];
        var status = text.StartsWith("HTTP/1.", StringComparison.Ordinal) && text.Length >= 12 && int.TryParse(text.AsSpan(9, 3), out var code) ? code : 0;
        return (status, true);
    }

    [Fact]
    public async Task MutatedRequests_AreAnsweredWithAClientErrorOrClosed_NeverA500OrAHang_AndTheServerServesOn()
    {
        var limits = new LocalHttpLimits { MaxBodyBytes = 4096, RequestTimeout = TimeSpan.FromSeconds(1), KeepAliveTimeout = TimeSpan.FromSeconds(1) };
        await using var server = new LocalHttpServer(new IPEndPoint(IPAddress.Loopback, 0), new EchoHandler(), limits, NullLogger.Instance);
        server.Start();
        var random = new Random(20261202);
        var statuses = new Dictionary<int, int>();
        for (var i = 0; i < 1500; i++)
        {
            var seed = Encoding.Latin1.GetBytes(Seeds[i % Seeds.Length]);
            var request = Mutate(seed, random);
            var (status, closed) = await ExchangeAsync(server.LocalEndPoint, request);
            Assert.True(closed, $"case {i}: no close within 5 s for {Convert.ToBase64String(request)}");
            Assert.True(status == 0 || Allowed.Contains(status), $"case {i}: status {status} for {Convert.ToBase64String(request)}");
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }

        Assert.True(statuses.Keys.Count(s => s >= 400) >= 4, "the mutations reach several error paths: " + string.Join(", ", statuses.OrderBy(s => s.Key).Select(s => $"{s.Key}×{s.Value}")));
        var (ok, _) = await ExchangeAsync(server.LocalEndPoint, Encoding.ASCII.GetBytes("POST /v1/predict HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"));
        Assert.Equal(200, ok);
    }
}
