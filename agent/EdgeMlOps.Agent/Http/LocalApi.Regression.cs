using System.Text.Json;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// A regressor on the local API: <c>POST /v1/predict</c> answers its values, <c>POST /v1/feedback</c> takes a
/// <c>"target"</c> (the true values) instead of a label, and the explanation routes, which read class probabilities,
/// say they do not apply.
/// </summary>
public sealed partial class LocalApi
{
    private bool ServesRegressor => _agent.CurrentModel?.Architecture.Graph?.RegressionTargets > 0;

    /// <summary>A 409 for a route that reads class probabilities while the served model is a regressor, else null.</summary>
    private int? NotARegressor(Utf8JsonWriter json) =>
        ServesRegressor ? Error(json, 409, "this model is a regressor: explanations read class probabilities (POST /v1/predict answers its values)") : null;

    private int WriteValues(float[] features, Utf8JsonWriter json)
    {
        var result = _agent.PredictValues(features);
        json.WriteString("predictionId", result.PredictionId);
        json.WriteStartArray("values");
        foreach (var v in result.Values) json.WriteNumberValue(v);
        json.WriteEndArray();
        json.WriteNumber("modelVersion", result.ModelVersion);
        return 200;
    }

    /// <summary>A regressor's ground truth: <c>{"predictionId", "target"}</c> or <c>{"features", "target"}</c>.</summary>
    private int StoreTargets(float[]? features, long? label, float[]? target, string? predictionId, Utf8JsonWriter json)
    {
        if (label is not null || target is null || (features is null) == (predictionId is null))
        {
            return Error(json, 400, "this model is a regressor: body must be {\"predictionId\": \"...\", \"target\": [numbers]} or {\"features\": [...], \"target\": [numbers]}");
        }

        try
        {
            if (predictionId is not null)
            {
                if (!_agent.FeedbackTarget(predictionId, target)) return Error(json, 404, $"unknown or already labelled prediction id '{predictionId}'");
            }
            else
            {
                var info = _agent.CurrentModel!;
                if (features!.Length != info.Architecture.InputDim) return Error(json, 422, $"expected {info.Architecture.InputDim} features, got {features.Length}");
                _agent.FeedbackTarget(features, target);
            }
        }
        catch (ArgumentException ex)
        {
            return Error(json, 422, ex.Message);
        }

        json.WriteBoolean("accepted", true);
        return 200;
    }
}
