using System.Buffers;
using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Http;

/// <summary>How much the local HTTP server accepts, and for how long it waits.</summary>
public sealed record LocalHttpLimits
{
    /// <summary>Largest request body (declared or chunked); beyond it the answer is 413 and the connection closes.</summary>
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>Largest request line plus headers; beyond it 431.</summary>
    public int MaxHeaderBytes { get; init; } = 16 * 1024;

    /// <summary>Longest request target; beyond it 414.</summary>
    public int MaxTargetBytes { get; init; } = 2048;

    /// <summary>Open connections; one more is answered 503 and closed.</summary>
    public int MaxConnections { get; init; } = 256;

    /// <summary>Requests handled at once (others wait for a slot): inference is CPU-bound.</summary>
    public int Concurrency { get; init; } = 2 * Environment.ProcessorCount;

    /// <summary>From a request's first byte to its last; a slower client gets 408 and is closed.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an idle keep-alive connection stays open.</summary>
    public TimeSpan KeepAliveTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>One request as the handler sees it; its spans are valid only during the call.</summary>
public readonly ref struct LocalHttpRequest(ReadOnlySpan<byte> method, ReadOnlySpan<byte> path, ReadOnlySpan<byte> body)
{
    /// <summary>The method as sent (ASCII, case-sensitive per RFC 9110).</summary>
    public ReadOnlySpan<byte> Method { get; } = method;

    /// <summary>The target's path, without a query string.</summary>
    public ReadOnlySpan<byte> Path { get; } = path;

    public ReadOnlySpan<byte> Body { get; } = body;
}

/// <summary>Answers requests with a JSON object.</summary>
public interface ILocalHttpHandler
{
    /// <summary>Writes the members of the response object (the braces are written around them) and returns the status code.</summary>
    int Handle(LocalHttpRequest request, Utf8JsonWriter json);
}

/// <summary>
/// A small HTTP/1.1 server for the agent's local API, over TCP (loopback by default) or a Unix domain socket.
/// It does what the API needs and no more: Content-Length and chunked request bodies, keep-alive and pipelining,
/// <c>Expect: 100-continue</c>, HTTP/1.0 clients, JSON responses with a length. Limits on header size, target
/// length, body size, open connections, request and idle time each get their status code and a JSON message.
/// Buffers are pooled per connection, so a request allocates only what its handler does. It replaces .NET's
/// <c>HttpListener</c>, whose managed Linux implementation could crash the process on a connection accepted while it
/// was still starting (dotnet/corefx#35191) and allocated tens of kilobytes per connection; Kestrel would cost
/// megabytes of the agent's footprint.
/// </summary>
public sealed partial class LocalHttpServer : IAsyncDisposable
{
    private readonly EndPoint _endPoint;
    private readonly ILocalHttpHandler _handler;
    private readonly LocalHttpLimits _limits;
    private readonly ILogger _logger;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _slots;
    private readonly HashSet<Task> _connections = [];
    private Task _acceptLoop = Task.CompletedTask;
    private int _open;
    private long _requests;
    private long _clientErrors;
    private long _refused;

    public LocalHttpServer(EndPoint endPoint, ILocalHttpHandler handler, LocalHttpLimits limits, ILogger logger)
    {
        _endPoint = endPoint;
        _handler = handler;
        _limits = limits;
        _logger = logger;
        _slots = new SemaphoreSlim(Math.Max(1, limits.Concurrency));
        _listener = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
    }

    /// <summary>Requests answered (any status).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests answered with a 4xx, by the handler or for a malformed or oversized request.</summary>
    public long ClientErrors => Interlocked.Read(ref _clientErrors);

    /// <summary>Connections refused because <see cref="LocalHttpLimits.MaxConnections"/> were open.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);

    /// <summary>Where it listens (the bound port when the configured one was 0).</summary>
    public EndPoint LocalEndPoint => _listener.LocalEndPoint ?? _endPoint;

    /// <summary>
    /// Parses a listening address: <c>http://HOST:PORT/</c> (an IP address, <c>localhost</c>, or <c>*</c> / <c>+</c>
    /// for every interface) or <c>unix:/path/to/socket</c>. Returns null with a reason for anything else.
    /// </summary>
    public static EndPoint? ParseAddress(string address, out string? error)
    {
        error = null;
        if (address.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = address["unix:".Length..];
            if (path.Length == 0 || !Path.IsPathFullyQualified(path)) error = $"'{address}' needs an absolute socket path after 'unix:'";
            return error is null ? new UnixDomainSocketEndPoint(path) : null;
        }

        // "*" and "+" (every interface, as HttpListener prefixes spell it) are not hosts a URI accepts.
        var wildcard = address.StartsWith("http://*:", StringComparison.Ordinal) || address.StartsWith("http://+:", StringComparison.Ordinal);
        if (!Uri.TryCreate(wildcard ? "http://0.0.0.0:" + address["http://*:".Length..] : address, UriKind.Absolute, out var uri) || uri.Scheme != "http" || uri.AbsolutePath != "/" || !address.EndsWith('/'))
        {
            error = $"'{address}' is neither http://HOST:PORT/ nor unix:/PATH";
            return null;
        }

        var host = uri.Host.Trim('[', ']');
        var ip = host == "localhost" ? IPAddress.Loopback : IPAddress.TryParse(host, out var parsed) ? parsed : null;
        if (ip is null) error = $"'{address}': the host must be an IP address, localhost, or * for every interface";
        return ip is null ? null : new IPEndPoint(ip, uri.Port);
    }

    /// <summary>Binds and listens (throws if the address is taken); connections are served from then on.</summary>
    private const int SolSocket = 1; // Linux <sys/socket.h>
    private const int SoReuseAddr = 2;

    public void Start()
    {
        if (_endPoint is UnixDomainSocketEndPoint uds && uds.ToString() is { Length: > 0 } path && File.Exists(path))
        {
            // A socket file left by a process that died: binding would fail with "address in use".
            File.Delete(path);
        }

        if (_endPoint is IPEndPoint && OperatingSystem.IsLinux())
        {
            // SO_REUSEADDR only, so a restart binds past connections in TIME_WAIT. .NET's ReuseAddress option also
            // sets SO_REUSEPORT on Linux, which let a second agent bind the same port and take half the requests.
            _listener.SetRawSocketOption(SolSocket, SoReuseAddr, BitConverter.GetBytes(1));
        }

        _listener.Bind(_endPoint);
        _listener.Listen(512);
        _acceptLoop = AcceptLoopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] open;
        lock (_connections) open = [.. _connections];
        await Task.WhenAll(open).ConfigureAwait(false);
        if (_endPoint is UnixDomainSocketEndPoint uds && uds.ToString() is { Length: > 0 } path) File.Delete(path);
        _stopping.Dispose();
        _slots.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Out of file descriptors, or a connection reset before it was accepted: keep listening.
                LogAcceptFailed(ex.SocketErrorCode.ToString());
                await Task.Delay(50).ConfigureAwait(false);
                continue;
            }

            if (Interlocked.Increment(ref _open) > _limits.MaxConnections)
            {
                Interlocked.Decrement(ref _open);
                Interlocked.Increment(ref _refused);
                _ = RefuseAsync(socket);
                continue;
            }

            var serving = ServeAsync(socket);
            lock (_connections)
            {
                if (!serving.IsCompleted) _connections.Add(serving);
            }
        }
    }

    private async Task RefuseAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                const string Body = """{"error":"too many connections"}""";
                var response = Encoding.ASCII.GetBytes($"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {Body.Length}\r\nConnection: close\r\n\r\n{Body}");
                await socket.SendAsync(response, SocketFlags.None).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await Task.Yield();
        try
        {
            using var connection = new Connection(this, socket);
            await connection.RunAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The client went away, the server is stopping, or a timeout closed the connection.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogConnectionFailed(ex);
        }
        finally
        {
            socket.Dispose();
            Interlocked.Decrement(ref _open);
            lock (_connections) _connections.RemoveWhere(t => t.IsCompleted);
        }
    }

    /// <summary>A protocol-level refusal: answered, counted, and the connection closed after it.</summary>
    private sealed class ProtocolException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }

    /// <summary>One connection's buffers and parse state; requests on it are served one after another.</summary>
    private sealed class Connection : IDisposable
    {
        private const int InitialBuffer = 8 * 1024;
        private static readonly byte[] Continue = "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray();
        private readonly LocalHttpServer _server;
        private readonly Socket _socket;
        private readonly CancellationTokenSource _timeout;
        private readonly ArrayBufferWriter<byte> _json = new(512);
        private readonly ArrayBufferWriter<byte> _output = new(1024);
        private readonly Utf8JsonWriter _writer;
        private readonly byte[] _method = new byte[16];
        private readonly byte[] _target;
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
        private byte[]? _chunked;
        private int _head; // first unconsumed byte
        private int _tail; // end of received bytes
        private bool _http10; // the request being answered: a kept-alive HTTP/1.0 connection is said so in the response
        private bool _headRequest; // the request being answered is HEAD: its response has headers only

        public Connection(LocalHttpServer server, Socket socket)
        {
            _server = server;
            _socket = socket;
            _timeout = CancellationTokenSource.CreateLinkedTokenSource(server._stopping.Token);
            _writer = new Utf8JsonWriter(_json);
            _target = ArrayPool<byte>.Shared.Rent(server._limits.MaxTargetBytes);
        }

        private LocalHttpLimits Limits => _server._limits;

        public void Dispose()
        {
            _timeout.Dispose();
            _writer.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
            ArrayPool<byte>.Shared.Return(_target);
            if (_chunked is not null) ArrayPool<byte>.Shared.Return(_chunked);
        }

        public async Task RunAsync()
        {
            var keepAlive = true;
            while (keepAlive)
            {
                // Idle: wait for a request's first byte for at most the keep-alive time.
                _timeout.CancelAfter(Limits.KeepAliveTimeout);
                if (_head == _tail && !await ReceiveAsync().ConfigureAwait(false)) return;
                _timeout.CancelAfter(Limits.RequestTimeout);
                int methodLength, pathLength, bodyStart, bodyLength;
                try
                {
                    (methodLength, pathLength, keepAlive, bodyStart, bodyLength) = await ReadRequestAsync().ConfigureAwait(false);
                }
                catch (ProtocolException ex)
                {
                    await RespondAsync(ex.Status, ex.Message, keepAlive: false).ConfigureAwait(false);
                    return;
                }
                catch (OperationCanceledException) when (!_server._stopping.IsCancellationRequested)
                {
                    await RespondAsync(408, "request not received in time", keepAlive: false).ConfigureAwait(false);
                    return;
                }

                _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
                var status = await HandleAsync(methodLength, pathLength, bodyStart, bodyLength).ConfigureAwait(false);
                if (bodyStart >= 0) _head = bodyStart + bodyLength;
                await SendResponseAsync(status, keepAlive).ConfigureAwait(false);
            }

            _socket.Shutdown(SocketShutdown.Send);
        }

        private async ValueTask<int> HandleAsync(int methodLength, int pathLength, int bodyStart, int bodyLength)
        {
            var slots = _server._slots;
            if (!slots.Wait(0)) await slots.WaitAsync(_server._stopping.Token).ConfigureAwait(false);
            try
            {
                _json.ResetWrittenCount();
                _writer.Reset(_json);
                _writer.WriteStartObject();
                int status;
                try
                {
                    var body = bodyStart >= 0 ? _buffer.AsSpan(bodyStart, bodyLength) : _chunked.AsSpan(0, bodyLength);
                    status = _server._handler.Handle(new LocalHttpRequest(_method.AsSpan(0, methodLength), _target.AsSpan(0, pathLength), body), _writer);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    _server.LogHandlerFailed(Encoding.ASCII.GetString(_target, 0, pathLength), ex);
                    _json.ResetWrittenCount();
                    _writer.Reset(_json);
                    _writer.WriteStartObject();
                    _writer.WriteString("error", "internal error");
                    status = 500;
                }

                _writer.WriteEndObject();
                _writer.Flush();
                return status;
            }
            finally
            {
                slots.Release();
            }
        }

        /// <summary>
        /// Reads a request line and headers, then its body: into the receive buffer (Content-Length; the body's offset
        /// is returned) or decoded into the chunk buffer (chunked; offset −1). The method and path are copied out, so
        /// the header bytes can be dropped while a body arrives.
        /// </summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<(int MethodLength, int PathLength, bool KeepAlive, int BodyStart, int BodyLength)> ReadRequestAsync()
        {
            int headerEnd;
            var scanned = _head;
            while ((headerEnd = IndexOfHeaderEnd(scanned)) < 0)
            {
                if (_tail - _head >= Limits.MaxHeaderBytes) throw new ProtocolException(431, $"request line and headers exceed {Limits.MaxHeaderBytes} bytes");
                scanned = Math.Max(_head, _tail - 3);
                var offset = scanned - _head;
                if (!await ReceiveAsync().ConfigureAwait(false)) throw new IOException("connection closed mid-request");
                scanned = _head + offset;
            }

            if (headerEnd - _head > Limits.MaxHeaderBytes) throw new ProtocolException(431, $"request line and headers exceed {Limits.MaxHeaderBytes} bytes");
            var head = ParseHead(_buffer.AsSpan(_head, headerEnd - _head));
            _head = headerEnd + 4;
            if (head.Chunked && head.ExpectContinue && _tail == _head) await SendAsync(Continue).ConfigureAwait(false);
            if (head.Chunked) return (head.MethodLength, head.PathLength, head.KeepAlive, -1, await ReadChunkedAsync().ConfigureAwait(false));
            var length = (int)head.ContentLength;
            if (length > 0)
            {
                if (head.ExpectContinue && _tail - _head < length) await SendAsync(Continue).ConfigureAwait(false);
                await EnsureAsync(length).ConfigureAwait(false);
            }

            return (head.MethodLength, head.PathLength, head.KeepAlive, _head, length);
        }

        private int IndexOfHeaderEnd(int from)
        {
            var found = _buffer.AsSpan(from, _tail - from).IndexOf("\r\n\r\n"u8);
            return found < 0 ? -1 : from + found;
        }

        private record struct Head(int MethodLength, int PathLength, bool KeepAlive, long ContentLength, bool Chunked, bool ExpectContinue);

        private Head ParseHead(ReadOnlySpan<byte> head)
        {
            var lineEnd = head.IndexOf("\r\n"u8);
            var line = lineEnd < 0 ? head : head[..lineEnd];
            var firstSpace = line.IndexOf((byte)' ');
            var lastSpace = line.LastIndexOf((byte)' ');
            if (firstSpace <= 0 || lastSpace <= firstSpace + 1) throw new ProtocolException(400, "malformed request line");
            var method = line[..firstSpace];
            var target = line[(firstSpace + 1)..lastSpace];
            var version = line[(lastSpace + 1)..];
            if (method.Length > _method.Length || method.IndexOfAnyExceptInRange((byte)'A', (byte)'Z') >= 0) throw new ProtocolException(400, "malformed method");
            bool http11;
            if (version.SequenceEqual("HTTP/1.1"u8)) http11 = true;
            else if (version.SequenceEqual("HTTP/1.0"u8)) http11 = false;
            else if (version.StartsWith("HTTP/"u8)) throw new ProtocolException(505, "only HTTP/1.0 and HTTP/1.1 are served");
            else throw new ProtocolException(400, "malformed request line");

            var path = Path(target);
            if (path.Length > Limits.MaxTargetBytes) throw new ProtocolException(414, $"request target exceeds {Limits.MaxTargetBytes} bytes");
            method.CopyTo(_method);
            _headRequest = method.SequenceEqual("HEAD"u8);
            path.CopyTo(_target);

            long contentLength = 0;
            bool hasLength = false, chunked = false, expectContinue = false, close = false, keepAliveHeader = false;
            var rest = lineEnd < 0 ? [] : head[(lineEnd + 2)..];
            while (rest.Length > 0)
            {
                var end = rest.IndexOf("\r\n"u8);
                var field = end < 0 ? rest : rest[..end];
                rest = end < 0 ? [] : rest[(end + 2)..];
                var colon = field.IndexOf((byte)':');
                if (colon <= 0 || field[0] is (byte)' ' or (byte)'\t' || field[colon - 1] is (byte)' ' or (byte)'\t') throw new ProtocolException(400, "malformed header field");
                var name = field[..colon];
                var value = field[(colon + 1)..].Trim(" \t"u8);
                if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
                {
                    if (!Utf8Parser.TryParse(value, out long parsed, out var used) || used != value.Length || parsed < 0) throw new ProtocolException(400, "malformed Content-Length");
                    if (hasLength && parsed != contentLength) throw new ProtocolException(400, "conflicting Content-Length headers");
                    (contentLength, hasLength) = (parsed, true);
                }
                else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
                {
                    if (!Ascii.EqualsIgnoreCase(value, "chunked"u8)) throw new ProtocolException(501, "only the chunked transfer coding is understood");
                    chunked = true;
                }
                else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
                {
                    close |= ContainsToken(value, "close"u8);
                    keepAliveHeader |= ContainsToken(value, "keep-alive"u8);
                }
                else if (Ascii.EqualsIgnoreCase(name, "Expect"u8))
                {
                    if (!Ascii.EqualsIgnoreCase(value, "100-continue"u8)) throw new ProtocolException(417, "only Expect: 100-continue is understood");
                    expectContinue = true;
                }
            }

            // Both framings at once is how requests are smuggled past proxies: refuse rather than pick one.
            if (chunked && hasLength) throw new ProtocolException(400, "both Content-Length and Transfer-Encoding");
            if (contentLength > Limits.MaxBodyBytes) throw new ProtocolException(413, $"body of {contentLength} bytes exceeds {Limits.MaxBodyBytes}");
            var keepAlive = http11 ? !close : keepAliveHeader && !close;
            _http10 = !http11;

            // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored (found by LocalHttpServerFuzzTests).
            return new Head(method.Length, path.Length, keepAlive, contentLength, chunked, expectContinue && http11);
        }

        /// <summary>The path of an origin-form (<c>/a?b</c>) or absolute-form (<c>http://host/a?b</c>) target.</summary>
        private static ReadOnlySpan<byte> Path(ReadOnlySpan<byte> target)
        {
            if (target.Length > 0 && target[0] != (byte)'/')
            {
                var scheme = target.IndexOf("://"u8);
                if (scheme < 0) throw new ProtocolException(400, "malformed request target");
                var afterAuthority = target[(scheme + 3)..].IndexOf((byte)'/');
                target = afterAuthority < 0 ? "/"u8 : target[(scheme + 3 + afterAuthority)..];
            }

            var query = target.IndexOfAny((byte)'?', (byte)'#');
            return query < 0 ? target : target[..query];
        }

        private static bool ContainsToken(ReadOnlySpan<byte> list, ReadOnlySpan<byte> token)
        {
            foreach (var range in list.Split((byte)','))
            {
                if (Ascii.EqualsIgnoreCase(list[range].Trim(" \t"u8), token)) return true;
            }

            return false;
        }

        /// <summary>Decodes a chunked body into the chunk buffer; returns its length. Trailers are read and ignored.</summary>
        private async ValueTask<int> ReadChunkedAsync()
        {
            var length = 0;
            while (true)
            {
                var line = await ReadLineAsync().ConfigureAwait(false);
                var sizeText = _buffer.AsSpan(line.Start, line.Length);
                var extension = sizeText.IndexOf((byte)';');
                if (extension >= 0) sizeText = sizeText[..extension];
                sizeText = sizeText.Trim(" \t"u8);
                if (sizeText.Length is 0 or > 8 || !Utf8Parser.TryParse(sizeText, out uint size, out var used, 'x') || used != sizeText.Length)
                {
                    throw new ProtocolException(400, "malformed chunk size");
                }

                if (size == 0) break;
                if (length + (long)size > Limits.MaxBodyBytes) throw new ProtocolException(413, $"body exceeds {Limits.MaxBodyBytes} bytes");
                GrowChunked(length + (int)size);
                var remaining = (int)size;
                while (remaining > 0)
                {
                    if (_head == _tail && !await ReceiveAsync().ConfigureAwait(false)) throw new IOException("connection closed mid-body");
                    var n = Math.Min(remaining, _tail - _head);
                    _buffer.AsSpan(_head, n).CopyTo(_chunked.AsSpan(length));
                    (_head, length, remaining) = (_head + n, length + n, remaining - n);
                }

                var crlf = await ReadLineAsync().ConfigureAwait(false);
                if (crlf.Length != 0) throw new ProtocolException(400, "chunk data longer than its size");
            }

            while ((await ReadLineAsync().ConfigureAwait(false)).Length > 0)
            {
                // Trailer fields: nothing here needs them.
            }

            return length;
        }

        private void GrowChunked(int needed)
        {
            if (_chunked is not null && _chunked.Length >= needed) return;
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(4096, (_chunked?.Length ?? 0) * 2)));
            if (_chunked is not null)
            {
                _chunked.AsSpan().CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_chunked);
            }

            _chunked = larger;
        }

        /// <summary>The next CRLF-terminated line (consumed); returns where it starts in the buffer and its length without the CRLF.</summary>
        private async ValueTask<(int Start, int Length)> ReadLineAsync()
        {
            int end;
            while ((end = _buffer.AsSpan(_head, _tail - _head).IndexOf("\r\n"u8)) < 0)
            {
                if (_tail - _head >= 1024) throw new ProtocolException(400, "chunk line too long");
                if (!await ReceiveAsync().ConfigureAwait(false)) throw new IOException("connection closed mid-body");
            }

            var start = _head;
            _head += end + 2;
            return (start, end);
        }

        /// <summary>Receives until <paramref name="count"/> bytes from the head are in the buffer (growing it to fit).</summary>
        private async ValueTask EnsureAsync(int count)
        {
            if (_buffer.Length - _head < count)
            {
                if (_buffer.Length >= count) Compact();
                else Resize(count);
            }

            while (_tail - _head < count)
            {
                var n = await _socket.ReceiveAsync(_buffer.AsMemory(_tail), SocketFlags.None, _timeout.Token).ConfigureAwait(false);
                if (n == 0) throw new IOException("connection closed mid-body");
                _tail += n;
            }
        }

        /// <summary>Receives more bytes after the tail (compacting, or doubling a full buffer; callers enforce the size limits); false at end of stream.</summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<bool> ReceiveAsync()
        {
            if (_head == _tail) _head = _tail = 0;
            if (_tail == _buffer.Length)
            {
                if (_head > 0) Compact();
                else Resize(_buffer.Length * 2);
            }

            var n = await _socket.ReceiveAsync(_buffer.AsMemory(_tail), SocketFlags.None, _timeout.Token).ConfigureAwait(false);
            _tail += n;
            return n > 0;
        }

        private void Compact()
        {
            _buffer.AsSpan(_head, _tail - _head).CopyTo(_buffer);
            (_tail, _head) = (_tail - _head, 0);
        }

        private void Resize(int size)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(size, _buffer.Length));
            _buffer.AsSpan(_head, _tail - _head).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            (_buffer, _tail, _head) = (larger, _tail - _head, 0);
        }

        private async ValueTask RespondAsync(int status, string message, bool keepAlive)
        {
            _headRequest = false;
            _json.ResetWrittenCount();
            _writer.Reset(_json);
            _writer.WriteStartObject();
            _writer.WriteString("error", message);
            _writer.WriteEndObject();
            _writer.Flush();
            try
            {
                await SendResponseAsync(status, keepAlive).ConfigureAwait(false);
                _socket.Shutdown(SocketShutdown.Send);

                // Lingering close: a client still sending the refused body would get a reset, and could lose the
                // answer, if the socket closed with unread bytes. Read and drop them for a moment first.
                using var linger = CancellationTokenSource.CreateLinkedTokenSource(_server._stopping.Token);
                linger.CancelAfter(TimeSpan.FromSeconds(2));
                var drained = 0;
                int n;
                while (drained < 4 * Limits.MaxBodyBytes && (n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, linger.Token).ConfigureAwait(false)) > 0) drained += n;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
            }
        }

        private ValueTask SendResponseAsync(int status, bool keepAlive)
        {
            Interlocked.Increment(ref _server._requests);
            if (status is >= 400 and < 500) Interlocked.Increment(ref _server._clientErrors);
            _output.ResetWrittenCount();
            Write("HTTP/1.1 "u8);
            WriteNumber(status);
            Write(" "u8);
            Write(Reason(status));
            Write("\r\nContent-Type: application/json\r\nDate: "u8);
            Write(HttpDate.Now());
            Write("\r\nContent-Length: "u8);
            WriteNumber(_json.WrittenCount);
            Write(!keepAlive ? "\r\nConnection: close\r\n\r\n"u8 : _http10 ? "\r\nConnection: keep-alive\r\n\r\n"u8 : "\r\n\r\n"u8);
            if (!_headRequest) Write(_json.WrittenSpan);
            return SendAsync(_output.WrittenMemory);
        }

        private async ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
        {
            while (bytes.Length > 0)
            {
                var n = await _socket.SendAsync(bytes, SocketFlags.None, _server._stopping.Token).ConfigureAwait(false);
                bytes = bytes[n..];
            }
        }

        private void Write(ReadOnlySpan<byte> bytes) => _output.Write(bytes);

        private void WriteNumber(int value)
        {
            Utf8Formatter.TryFormat(value, _output.GetSpan(11), out var written);
            _output.Advance(written);
        }
    }

    private static ReadOnlySpan<byte> Reason(int status) => status switch
    {
        200 => "OK"u8,
        400 => "Bad Request"u8,
        404 => "Not Found"u8,
        405 => "Method Not Allowed"u8,
        408 => "Request Timeout"u8,
        413 => "Content Too Large"u8,
        414 => "URI Too Long"u8,
        417 => "Expectation Failed"u8,
        422 => "Unprocessable Content"u8,
        431 => "Request Header Fields Too Large"u8,
        500 => "Internal Server Error"u8,
        501 => "Not Implemented"u8,
        503 => "Service Unavailable"u8,
        505 => "HTTP Version Not Supported"u8,
        _ => "Status"u8,
    };

    /// <summary>The Date header's value (IMF-fixdate), formatted once per second.</summary>
    private static class HttpDate
    {
        private static Stamp _current = new(-1, []);

        public static byte[] Now()
        {
            var now = DateTimeOffset.UtcNow;
            var second = now.ToUnixTimeSeconds();
            var current = Volatile.Read(ref _current);
            if (current.Second == second) return current.Bytes;
            var bytes = Encoding.ASCII.GetBytes(now.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            Volatile.Write(ref _current, new Stamp(second, bytes));
            return bytes;
        }

        private sealed record Stamp(long Second, byte[] Bytes);
    }

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Local API could not accept a connection: {Error}")]
    private partial void LogAcceptFailed(string error);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Local API request {Path} failed")]
    private partial void LogHandlerFailed(string path, Exception exception);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Error, Message = "Local API connection failed")]
    private partial void LogConnectionFailed(Exception exception);
}
