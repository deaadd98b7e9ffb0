using System.Buffers;
using System.Net;
using System.Text.Json;
using EdgeMlOps.Agent.Inputs;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Http;

/// <summary>Where the local model service listens and how much it accepts.</summary>
public sealed record LocalApiOptions
{
    /// <summary>HttpListener prefix; loopback only by default, so only apps on the device reach it.</summary>
    public string Prefix { get; init; } = "http://127.0.0.1:8090/";

    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>Requests served concurrently (keep-alive connections beyond this wait their turn).</summary>
    public int Concurrency { get; init; } = 2 * Environment.ProcessorCount;
}

/// <summary>
/// Model-as-a-service for apps on the device, over HTTP on loopback:
/// <c>POST /v1/predict</c>, <c>POST /v1/feedback</c>, <c>GET /v1/health</c>, <c>GET /v1/model</c>,
/// <c>DELETE /v1/data</c>. JSON is read and written by hand (Utf8JsonReader/Writer), so the
/// native-AOT build needs no reflection. Bad requests get a 4xx and a message saying why.
/// </summary>
public sealed partial class LocalApi : IAsyncDisposable
{
    private readonly DeviceAgent _agent;
    private readonly LocalApiOptions _options;
    private readonly ILogger _logger;
    private readonly HttpListener _listener = new();
    private readonly List<Task> _loops = new();
    private readonly CancellationTokenSource _stopping = new();
    private long _requests;
    private long _clientErrors;

    public LocalApi(DeviceAgent agent, LocalApiOptions options, ILogger logger)
    {
        _agent = agent;
        _options = options;
        _logger = logger;
        _listener.Prefixes.Add(options.Prefix);
    }

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Requests answered with a 4xx.</summary>
    public long ClientErrors => Interlocked.Read(ref _clientErrors);

    public void Start()
    {
        _listener.Start();
        for (var i = 0; i < _options.Concurrency; i++) _loops.Add(Task.Run(AcceptLoopAsync));
        LogListening(_options.Prefix);
    }

    public async ValueTask DisposeAsync()
    {
        // Cancel first: a loop that saw the listener running but had not yet called GetContextAsync when Stop ran
        // would queue a wait that Stop no longer completes (HttpListener checks its state, then queues), and
        // disposing would wait for it forever.
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        await Task.WhenAll(_loops).ConfigureAwait(false);
        _listener.Close();
        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().WaitAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                return;
            }

            Interlocked.Increment(ref _requests);
            try
            {
                await HandleAsync(context).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
            {
                // The client went away mid-response.
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogFailed(context.Request.Url?.AbsolutePath ?? "?", ex);
                TryRespond(context, 500, w => w.WriteString("error", "internal error"));
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var path = request.Url?.AbsolutePath ?? string.Empty;
        switch (path)
        {
            case "/v1/predict" when request.HttpMethod == "POST":
                await PredictAsync(context).ConfigureAwait(false);
                break;
            case "/v1/feedback" when request.HttpMethod == "POST":
                await FeedbackAsync(context).ConfigureAwait(false);
                break;
            case "/v1/health" when request.HttpMethod == "GET":
                Health(context);
                break;
            case "/v1/model" when request.HttpMethod == "GET":
                Model(context);
                break;
            case "/v1/data" when request.HttpMethod == "DELETE":
                var erased = _agent.EraseLocalData();
                Respond(context, 200, w =>
                {
                    w.WriteNumber("samplesErased", erased.Samples);
                    w.WriteNumber("predictionsErased", erased.Predictions);
                    w.WriteNumber("outboxMessagesErased", erased.OutboxMessages);
                });
                break;
            case "/v1/predict" or "/v1/feedback" or "/v1/health" or "/v1/model" or "/v1/data":
                ClientError(context, 405, $"{request.HttpMethod} is not allowed on {path}");
                break;
            default:
                ClientError(context, 404, $"no endpoint {path}");
                break;
        }
    }

    private async Task PredictAsync(HttpListenerContext context)
    {
        float[]? features;
        long? label;
        string? error;
        using (var body = await ReadBodyAsync(context).ConfigureAwait(false))
        {
            if (body is null) return;
            if (!SampleJson.TryParse(body.Span, out features, out label, out _, out error)) features = null;
        }

        if (features is null)
        {
            ClientError(context, 400, error ?? "body must be {\"features\": [numbers]}");
            return;
        }

        if (label is not null)
        {
            ClientError(context, 400, "predict takes no label; send ground truth to /v1/feedback");
            return;
        }

        var info = _agent.CurrentModel;
        if (info is null)
        {
            Respond(context, 503, w => w.WriteString("error", "no model installed yet"));
            return;
        }

        if (features.Length != info.Architecture.InputDim)
        {
            ClientError(context, 422, $"expected {info.Architecture.InputDim} features, got {features.Length}");
            return;
        }

        var result = _agent.Predict(features);
        Respond(context, 200, w =>
        {
            w.WriteString("predictionId", result.PredictionId);
            w.WriteNumber("label", result.Label);
            w.WriteStartArray("probabilities");
            foreach (var p in result.Probabilities) w.WriteNumberValue(p);
            w.WriteEndArray();
            w.WriteNumber("modelVersion", result.ModelVersion);
        });
    }

    private async Task FeedbackAsync(HttpListenerContext context)
    {
        float[]? features;
        long? label;
        string? predictionId, error;
        bool parsed;
        using (var body = await ReadBodyAsync(context).ConfigureAwait(false))
        {
            if (body is null) return;
            parsed = SampleJson.TryParse(body.Span, out features, out label, out predictionId, out error);
        }

        if (!parsed)
        {
            ClientError(context, 400, error!);
            return;
        }

        if (label is null || (features is null) == (predictionId is null))
        {
            ClientError(context, 400, "body must be {\"predictionId\": \"...\", \"label\": n} or {\"features\": [...], \"label\": n}");
            return;
        }

        var info = _agent.CurrentModel;
        if (info is not null && (label < 0 || label >= info.Architecture.Classes))
        {
            ClientError(context, 422, $"label {label} is outside [0, {info.Architecture.Classes})");
            return;
        }

        if (predictionId is not null)
        {
            if (!_agent.Feedback(predictionId, label.Value))
            {
                ClientError(context, 404, $"unknown or already labelled prediction id '{predictionId}'");
                return;
            }
        }
        else
        {
            if (info is not null && features!.Length != info.Architecture.InputDim)
            {
                ClientError(context, 422, $"expected {info.Architecture.InputDim} features, got {features.Length}");
                return;
            }

            _agent.Feedback(features!, label.Value);
        }

        Respond(context, 200, w => w.WriteBoolean("accepted", true));
    }

    private void Health(HttpListenerContext context)
    {
        var info = _agent.CurrentModel;
        Respond(context, info is null ? 503 : 200, w =>
        {
            w.WriteString("status", info is null ? "no-model" : "ok");
            w.WriteBoolean("connected", _agent.IsConnected);
            w.WriteNumber("modelVersion", info?.Version ?? 0);
            w.WriteString("modelNotice", _agent.ModelNotice);
            w.WriteNumber("samples", _agent.SampleCount);
            w.WriteNumber("outboxPending", _agent.OutboxPending);
            w.WriteNumber("outboxDropped", _agent.OutboxDropped);
            w.WriteString("executionProvider", _agent.ExecutionProvider);
            w.WriteNumber("predictions", _agent.InferenceLatency.Count);
            w.WriteNumber("latencyP50Ms", _agent.InferenceLatency.Quantile(0.5).TotalMilliseconds);
            w.WriteNumber("latencyP95Ms", _agent.InferenceLatency.Quantile(0.95).TotalMilliseconds);
            w.WriteNumber("latencyP99Ms", _agent.InferenceLatency.Quantile(0.99).TotalMilliseconds);
            w.WriteNumber("rssBytes", Environment.WorkingSet);
            var gc = GC.GetGCMemoryInfo();
            w.WriteNumber("managedHeapBytes", gc.HeapSizeBytes);
            w.WriteNumber("managedCommittedBytes", gc.TotalCommittedBytes);
            w.WriteNumber("trustBundleVersion", _agent.Trust.BundleVersion);
            w.WriteNumber("rejectedManifests", _agent.Trust.Rejections);
            w.WriteString("lastRejection", _agent.Trust.LastRejection);
            if (_agent.Rollout is { } rollout)
            {
                w.WriteStartObject("rollout");
                w.WriteString("id", rollout.RolloutId);
                w.WriteString("phase", rollout.Phase.ToString());
                w.WriteNumber("targetVersion", rollout.TargetVersion);
                w.WriteString("reason", rollout.Reason);
                w.WriteEndObject();
            }
        });
    }

    private void Model(HttpListenerContext context)
    {
        if (_agent.CurrentModel is not { } info)
        {
            ClientError(context, 404, "no model installed yet");
            return;
        }

        Respond(context, 200, w =>
        {
            w.WriteString("name", info.ModelName);
            w.WriteNumber("version", info.Version);
            w.WriteNumber("parentVersion", info.ParentVersion);
            w.WriteString("sha256", info.Inference.Sha256);
            w.WriteNumber("inputDim", info.Architecture.InputDim);
            w.WriteNumber("classes", info.Architecture.Classes);
            w.WriteStartArray("hidden");
            foreach (var h in info.Architecture.Hidden) w.WriteNumberValue(h);
            w.WriteEndArray();
        });
    }

    /// <summary>
    /// Reads at most MaxBodyBytes into a pooled buffer (return it with <see cref="PooledBody.Dispose"/>);
    /// answers 413 and returns null beyond that. A predict body of 784 numbers is ~4 KB: renting keeps the
    /// request path from allocating a fresh read buffer and its copies per call.
    /// </summary>
    private async Task<PooledBody?> ReadBodyAsync(HttpListenerContext context)
    {
        var limit = _options.MaxBodyBytes;
        var declared = context.Request.ContentLength64;
        if (declared > limit)
        {
            ClientError(context, 413, $"body of {declared} bytes exceeds {limit}");
            return null;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(declared > 0 ? (int)declared + 1 : 4096);
        var length = 0;
        var stream = context.Request.InputStream;
        int n;
        while ((n = await stream.ReadAsync(buffer.AsMemory(length)).ConfigureAwait(false)) > 0)
        {
            length += n;
            if (length > limit)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                ClientError(context, 413, $"body exceeds {limit} bytes");
                return null;
            }

            if (length == buffer.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = larger;
            }
        }

        return new PooledBody(buffer, length);
    }

    /// <summary>A request body in a buffer rented from the shared pool.</summary>
    private sealed class PooledBody(byte[] buffer, int length) : IDisposable
    {
        private byte[]? _buffer = buffer;

        public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, length);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } rented) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void ClientError(HttpListenerContext context, int status, string message)
    {
        Interlocked.Increment(ref _clientErrors);
        Respond(context, status, w => w.WriteString("error", message));
    }

    private static void Respond(HttpListenerContext context, int status, Action<Utf8JsonWriter> body)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength64 = buffer.WrittenCount;
        response.OutputStream.Write(buffer.WrittenSpan);
        response.OutputStream.Close();
    }

    private static void TryRespond(HttpListenerContext context, int status, Action<Utf8JsonWriter> body)
    {
        try
        {
            Respond(context, status, body);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Local model API listening on {Prefix}")]
    private partial void LogListening(string prefix);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Local API request {Path} failed")]
    private partial void LogFailed(string path, Exception exception);
}
