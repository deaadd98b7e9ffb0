using System.Text;
using System.Text.Json;
using EdgeMlOps.Agent.Inputs;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Logging;

using EdgeMlOps.Agent.Storage;

namespace EdgeMlOps.Agent.Http;

/// <summary>Where the local model service listens and how much it accepts.</summary>
public sealed record LocalApiOptions
{
    /// <summary><c>http://HOST:PORT/</c> (loopback by default, so only apps on the device reach it) or <c>unix:/PATH</c>.</summary>
    public string Address { get; init; } = "http://127.0.0.1:8090/";

    public LocalHttpLimits Limits { get; init; } = new();
}

/// <summary>
/// Model-as-a-service for apps on the device, over HTTP on loopback or a Unix domain socket:
/// <c>POST /v1/predict</c> (and <c>POST /v1/predict/f32</c>: the sample as raw little-endian float32, for images and
/// audio where JSON numbers cost 5× the bytes), <c>POST /v1/feedback</c>, <c>GET /v1/health</c>, <c>GET /v1/model</c>,
/// <c>DELETE /v1/data</c>, <c>POST /v1/explain</c> (Shapley values), <c>POST /v1/whatif</c>, and for a model that is
/// not a classifier <c>POST /v1/infer</c> (tensors by name, recurrent state per session). JSON is read and written by hand (Utf8JsonReader/Writer), so the
/// native-AOT build needs no reflection. Bad requests get a 4xx and a message saying why. A device running several
/// models answers each under <c>/v1/models/NAME/...</c> and lists them at <c>GET /v1/models</c> (LocalApi.Lines.cs).
/// </summary>
public sealed partial class LocalApi : ILocalHttpHandler, IAsyncDisposable
{
    private readonly DeviceAgent _agent;
    private readonly LocalApiOptions _options;
    private readonly ILogger _logger;
    private readonly LocalHttpServer? _server;
    private readonly Lines.ModelLines? _lines;

    /// <param name="agent">The fleet's first model's agent.</param>
    /// <param name="options">Where to listen, and the limits.</param>
    /// <param name="logger">Where requests that fail are logged.</param>
    /// <param name="lines">The device's further models, answered under <c>/v1/models/NAME/</c>; null when it runs only the first.</param>
    public LocalApi(DeviceAgent agent, LocalApiOptions options, ILogger logger, Lines.ModelLines? lines = null)
    {
        _agent = agent;
        _options = options;
        _logger = logger;
        _lines = lines;
        var endPoint = LocalHttpServer.ParseAddress(options.Address, out var error) ?? throw new ArgumentException(error, nameof(options));
        _server = new LocalHttpServer(endPoint, this, options.Limits, logger);
    }


    /// <summary>Requests answered.</summary>
    public long Requests => Server.Requests;

    /// <summary>Requests answered with a 4xx.</summary>
    public long ClientErrors => Server.ClientErrors;

    /// <summary>Where it listens (the bound port when the address asked for port 0).</summary>
    public System.Net.EndPoint EndPoint => Server.LocalEndPoint;

    /// <summary>Binds (throws if the address is in use) and serves from then on: a client may connect as soon as this returns.</summary>
    public void Start()
    {
        Server.Start();
        LogListening(_options.Address);
    }

    public ValueTask DisposeAsync() => _server?.DisposeAsync() ?? ValueTask.CompletedTask;

    int ILocalHttpHandler.Handle(LocalHttpRequest request, Utf8JsonWriter json)
    {
        var path = request.Path;
        var method = request.Method;
        if (path.StartsWith(ModelsPath)) return Models(request, json);
        if (path.SequenceEqual("/v1/predict"u8)) return method.SequenceEqual("POST"u8) ? Predict(request.Body, json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/predict/f32"u8)) return method.SequenceEqual("POST"u8) ? PredictFloat32(request.Body, json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/infer"u8)) return method.SequenceEqual("POST"u8) ? Infer(request.Body, json, binary: false) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/infer/bin"u8)) return method.SequenceEqual("POST"u8) ? Infer(request.Body, json, binary: true) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/feedback"u8)) return method.SequenceEqual("POST"u8) ? Feedback(request.Body, json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/health"u8)) return method.SequenceEqual("GET"u8) ? Health(json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/model"u8)) return method.SequenceEqual("GET"u8) ? Model(json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/explain"u8)) return method.SequenceEqual("POST"u8) ? Explain(request.Body, json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/whatif"u8)) return method.SequenceEqual("POST"u8) ? WhatIf(request.Body, json) : NotAllowed(request, json);
        if (path.SequenceEqual("/v1/data"u8)) return method.SequenceEqual("DELETE"u8) ? EraseData(json) : NotAllowed(request, json);
        return Error(json, 404, $"no endpoint {Encoding.UTF8.GetString(path)}");
    }

    private static int NotAllowed(LocalHttpRequest request, Utf8JsonWriter json) =>
        Error(json, 405, $"{Encoding.ASCII.GetString(request.Method)} is not allowed on {Encoding.UTF8.GetString(request.Path)}");

    private static int Error(Utf8JsonWriter json, int status, string message)
    {
        json.WriteString("error", message);
        return status;
    }

    private int EraseData(Utf8JsonWriter json)
    {
        ErasureResult erased;
        try
        {
            erased = _agent.EraseLocalData();
        }
        catch (StorageUnavailableException ex)
        {
            // Rows may be deleted while compaction (which needs room to rewrite the file) failed: say so.
            return Error(json, 507, ex.Message);
        }


        json.WriteNumber("samplesErased", erased.Samples);
        json.WriteNumber("predictionsErased", erased.Predictions);
        json.WriteNumber("outboxMessagesErased", erased.OutboxMessages);
        return 200;
    }

    private int Explain(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if ((NotAClassifier(json) ?? NotARegressor(json)) is { } kind) return kind;
        if (!ExplainJson.TryParseExplain(body, out var features, out var forClass, out var error)) return Error(json, 400, error!);
        if (NotAnId(_agent.CurrentModel?.Architecture.Graph, features!, json) is { } notAnId) return notAnId;
        var refusal = _agent.Explainer.TryExplain(features!, forClass, out var explanation, out var reason);
        if (refusal != Serving.ExplainRefusal.None) return Error(json, ExplainResponses.Status(refusal), reason);
        ExplainResponses.Write(json, explanation!);
        return 200;
    }

    private int WhatIf(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if ((NotAClassifier(json) ?? NotARegressor(json)) is { } kind) return kind;
        if (!ExplainJson.TryParseWhatIf(body, out var features, out var set, out var sweepFeature, out var sweepValues, out var error)) return Error(json, 400, error!);
        if (WhatIfNotAnId(_agent.CurrentModel?.Architecture.Graph, features!, set, sweepFeature, sweepValues, json) is { } notAnId) return notAnId;
        var refusal = _agent.Explainer.TryWhatIf(features!, set, sweepFeature, sweepValues, out var answer, out var reason);
        if (refusal != Serving.ExplainRefusal.None) return Error(json, ExplainResponses.Status(refusal), reason);
        ExplainResponses.Write(json, answer!);
        return 200;
    }

    private int Feedback(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if (NotAClassifier(json) is { } kind) return kind;
        try
        {
            return StoreFeedback(body, json);
        }
        catch (StorageUnavailableException ex)
        {
            // 507 with the reason: the device reports degraded until a write succeeds again.
            return Error(json, 507, ex.Message);
        }
    }

    private int StoreFeedback(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if (!SampleJson.TryParse(body, out var features, out var label, out var target, out var predictionId, out var error, SampleLayout.Of(_agent.CurrentModel?.Architecture.Graph))) return Error(json, 400, error!);
        if (ServesTargets) return StoreTargets(features, label, target, predictionId, json);
        if (target is not null) return Error(json, 400, "'target' is a regressor's ground truth; this model takes a 'label'");
        if (label is null || (features is null) == (predictionId is null))
        {
            return Error(json, 400, "body must be {\"predictionId\": \"...\", \"label\": n} or {\"features\": [...], \"label\": n}");
        }

        var info = _agent.CurrentModel;
        if (info is not null && (label < 0 || label >= info.Architecture.Classes)) return Error(json, 422, $"label {label} is outside [0, {info.Architecture.Classes})");
        if (predictionId is not null)
        {
            if (!_agent.Feedback(predictionId, label.Value)) return Error(json, 404, $"unknown or already labelled prediction id '{predictionId}'");
        }
        else
        {
            if (info is not null && !info.Architecture.TakesSampleOf(features!.Length)) return Error(json, 422, $"expected {info.Architecture.SampleSizeText()} features, got {features!.Length}");
            if (NotAnId(info?.Architecture.Graph, features!, json) is { } refused) return refused;
            if (_agent.SampleRefusal(features!) is { } why) return Error(json, 422, why); // it could never train (the agent counted it)
            _agent.Feedback(features!, label.Value);
        }

        json.WriteBoolean("accepted", true);
        return 200;
    }

    private int Health(Utf8JsonWriter w)
    {
        var info = _agent.CurrentModel;
        var storage = _agent.StorageNotice;
        w.WriteString("status", info is null ? "no-model" : storage.Length > 0 ? "degraded" : "ok");
        w.WriteString("storageNotice", storage);
        w.WriteBoolean("connected", _agent.IsConnected);
        w.WriteNumber("modelVersion", info?.Version ?? 0);
        w.WriteString("modelNotice", _agent.ModelNotice);
        w.WriteNumber("samples", _agent.SampleCount);
        w.WriteNumber("outboxPending", _agent.OutboxPending);
        w.WriteNumber("outboxDropped", _agent.OutboxDropped);
        w.WriteNumber("outboxUnheard", Interlocked.Read(ref _agent.Counters.OutboxUnheard));
        w.WriteNumber("samplesRefused", Interlocked.Read(ref _agent.Counters.SamplesRefused));
        w.WriteString("executionProvider", _agent.ExecutionProvider);
        w.WriteNumber("predictions", _agent.InferenceLatency.Count);
        w.WriteNumber("inferenceErrors", _agent.InferenceErrors);
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
        if (_agent.BehindSince is { } behind) w.WriteString("behindSince", behind);
        if (_agent.Rollout is { } rollout)
        {
            w.WriteStartObject("rollout");
            w.WriteString("id", rollout.RolloutId);
            w.WriteString("phase", rollout.Phase.ToString());
            w.WriteNumber("targetVersion", rollout.TargetVersion);
            w.WriteString("reason", rollout.Reason);
            w.WriteEndObject();
        }

        if (_agent.Shadow is { } shadow)
        {
            w.WriteStartObject("shadow");
            w.WriteString("rolloutId", shadow.RolloutId);
            w.WriteNumber("candidateVersion", shadow.CandidateVersion);
            w.WriteNumber("offered", shadow.Offered);
            w.WriteNumber("scored", shadow.Scored);
            w.WriteNumber("skipped", shadow.Skipped);
            w.WriteNumber("agreed", shadow.Agreed);
            w.WriteNumber("labelled", shadow.Labelled);
            w.WriteNumber("incumbentCorrect", shadow.IncumbentCorrect);
            w.WriteNumber("candidateCorrect", shadow.CandidateCorrect);
            w.WriteNumber("candidateLatencyP95Ms", shadow.CandidateLatencyP95Ms);
            w.WriteNumber("incumbentLatencyP95Ms", shadow.IncumbentLatencyP95Ms);
            w.WriteEndObject();
        }

        if (_agent.Experiment is { } experiment)
        {
            w.WriteStartObject("experiment");
            w.WriteString("rolloutId", experiment.RolloutId);
            foreach (var (name, arm) in new[] { ("a", experiment.A), ("b", experiment.B) })
            {
                w.WriteStartObject(name);
                w.WriteNumber("version", arm.Version);
                w.WriteNumber("served", arm.Served);
                w.WriteNumber("errors", arm.Errors);
                w.WriteNumber("labelled", arm.Labelled);
                w.WriteNumber("correct", arm.Correct);
                w.WriteNumber("latencyP95Ms", arm.LatencyP95Ms);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return info is null ? 503 : 200;
    }

    private int Model(Utf8JsonWriter w)
    {
        if (_agent.CurrentModel is not { } info) return Error(w, 404, "no model installed yet");
        w.WriteString("name", info.ModelName);
        w.WriteNumber("version", info.Version);
        w.WriteNumber("parentVersion", info.ParentVersion);
        w.WriteString("sha256", info.Inference.Sha256);
        w.WriteNumber("inputDim", info.Architecture.InputDim);
        w.WriteNumber("classes", info.Architecture.Classes);
        w.WriteStartArray("hidden");
        foreach (var h in info.Architecture.Hidden) w.WriteNumberValue(h);
        w.WriteEndArray();
        if (info.Architecture.Graph is { Tensors: { } tensors })
        {
            w.WriteStartObject("interface");
            w.WriteString("sourceSha256", info.Architecture.Graph.SourceSha256);
            WriteTensorInterface(w, tensors, EdgeMlOps.Shared.Models.ModelArchitectures.ToSpec(info.Architecture).Graph!.Tensors!.Accepted);
            w.WriteEndObject();
        }
        else if (info.Architecture.Graph is { } graph)
        {
            // An uploaded graph: what a request feeds and what comes back (features are the sample flattened row-major).
            w.WriteStartObject("interface");
            w.WriteString("input", graph.FeaturesInput);
            w.WriteStartArray("sampleShape");
            foreach (var d in graph.SampleDims) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteString("output", graph.ScoresOutput);
            w.WriteString("outputKind", EdgeMlOps.Shared.Models.ModelArchitectures.ToSpec(info.Architecture).Graph!.ScoresKind); // a regressor's, a per-position classifier's, a multi-task model's ground truth is a "target"
            if (graph.ValuesDims.Count > 0)
            {
                w.WriteStartArray("valuesShape"); // a regressor's values or a per-position classifier's positions per row, row-major
                foreach (var d in graph.ValuesDims) w.WriteNumberValue(d);
                w.WriteEndArray();
            }

            w.WriteBoolean("integerFeatures", graph.IntegerFeatures);
            if (graph.ContextInputs.Count > 0)
            {
                // More inputs a sample feeds: "features" carries the features input's values, then each of these in order.
                w.WriteStartArray("contextInputs");
                foreach (var context in graph.ContextInputs)
                {
                    w.WriteStartObject();
                    WriteSignature(w, context.Name, context.Type, "sampleShape", context.Dims);
                    if (context.Categories.Count > 0)
                    {
                        // Send these strings by name ("inputs"); in a flat "features" row a string is its index here, the count for an unknown one.
                        w.WriteStartArray("categories");
                        foreach (var category in context.Categories) w.WriteStringValue(category);
                        w.WriteEndArray();
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            if (graph.States.Count > 0)
            {
                // A streaming model's state: with "session" on /v1/predict the device carries it between calls.
                w.WriteStartArray("states");
                foreach (var state in graph.States) w.WriteStringValue($"{state.Input}>{state.Output}");
                w.WriteEndArray();
            }

            w.WriteString("sourceSha256", graph.SourceSha256);
            w.WriteStartArray("trained");
            foreach (var t in graph.Trained) w.WriteStringValue(t.Name);
            w.WriteEndArray();
            WritePreprocess(w, graph.Preprocess); // the sample goes through it before the model (and before training)
            if (graph.Preprocess is not null)
            {
                // What the front end makes and the model sees: what this device's window profiles sketch.
                w.WriteStartArray("featureShape");
                foreach (var d in graph.FeatureDims) w.WriteNumberValue(d);
                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        return 200;
    }

    [LoggerMessage(EventId = 1100, Level = LogLevel.Information, Message = "Local model API listening on {Address}")]
    private partial void LogListening(string address);
}
