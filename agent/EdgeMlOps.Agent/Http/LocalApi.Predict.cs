using System.Text.Json;
using EdgeMlOps.Agent.Inputs;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// A classifier's predictions on the local API: <c>POST /v1/predict</c> (the sample as JSON, perhaps by input name and
/// with a streaming session) and <c>POST /v1/predict/f32</c> (raw little-endian float32). A sample of a size the model
/// does not take is refused before it runs, and one whose values the declared front end makes into what the signed
/// interface does not take (fewer frames than the fewest) after: 422, counted, nothing kept.
/// </summary>
public sealed partial class LocalApi
{
    private int Predict(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if (NotAClassifier(json) is { } kind) return kind;
        if (!SampleJson.TryParse(body, out var features, out var label, out var target, out var predictionId, out var session, out var error, SampleLayout.Of(_agent.CurrentModel?.Architecture.Graph)) || features is null)
        {
            return Error(json, 400, error ?? "body must be {\"features\": [numbers]}");
        }

        if (label is not null || target is not null || predictionId is not null) return Error(json, 400, "predict takes no ground truth or prediction id; send those to /v1/feedback");
        var info = _agent.CurrentModel;
        if (info is null) return Error(json, 503, "no model installed yet");
        if (!info.Architecture.TakesSampleOf(features.Length)) return Error(json, 422, $"expected {info.Architecture.SampleSizeText()} features, got {features.Length}");
        if (session is not null && info.Architecture.Graph?.States.Count is not > 0) return Error(json, 400, "this model carries no state between calls: leave 'session' out");
        return WritePrediction(info, features, json, session);
    }

    /// <summary>One sample as <c>InputDim</c> little-endian float32 values (row-major for an uploaded graph's sample shape).</summary>
    private int PredictFloat32(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        if (NotAClassifier(json) is { } kind) return kind;
        var info = _agent.CurrentModel;
        if (info is null) return Error(json, 503, "no model installed yet");
        if (body.Length % sizeof(float) != 0 || !info.Architecture.TakesSampleOf(body.Length / sizeof(float)))
            return Error(json, 422, info.Architecture.Varying() is { } varying
                ? $"expected {varying.Describe()} as little-endian float32, got {body.Length} bytes"
                : $"expected {(long)info.Architecture.InputDim * sizeof(float)} bytes ({info.Architecture.InputDim} little-endian float32), got {body.Length}");
        var features = new float[body.Length / sizeof(float)];
        for (var i = 0; i < features.Length; i++)
        {
            features[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(body[(i * sizeof(float))..]);
            if (!float.IsFinite(features[i])) return Error(json, 400, $"value {i} is not a finite number");
        }

        return WritePrediction(info, features, json);
    }

    private int WritePrediction(Shared.Protocol.V1.ModelAnnouncement info, float[] features, Utf8JsonWriter json, string? session = null)
    {
        if (NotAnId(info.Architecture.Graph, features, json) is { } refused) return refused;

        try
        {
            return ServesTargets ? WriteValues(features, json, session) : WriteLabel(features, json, session);
        }
        catch (Runtime.SampleRefusedException ex) // the front end made of its values what the signed interface does not take (the agent counted it)
        {
            return Error(json, 422, ex.Message);
        }
    }

    private int WriteLabel(float[] features, Utf8JsonWriter json, string? session)
    {
        var result = _agent.PredictOwned(features, session);
        WriteSession(json, session, result.StateReset);

        json.WriteString("predictionId", result.PredictionId);
        json.WriteNumber("label", result.Label);
        json.WriteStartArray("probabilities");
        foreach (var p in result.Probabilities) json.WriteNumberValue(p);
        json.WriteEndArray();
        json.WriteNumber("modelVersion", result.ModelVersion);
        return 200;
    }
}
