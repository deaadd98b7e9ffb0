using System.Text.Json;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// A regressor, a multi-label or a per-position classifier on the local API: <c>POST /v1/predict</c> answers a
/// regressor's values, a multi-label classifier's label probabilities and the labels present, or a per-position
/// classifier's class id at every position; <c>POST /v1/feedback</c> takes a <c>"target"</c> (the true values, one 0/1
/// per label, or one class id per position) instead of a label; and the explanation routes, which read one
/// distribution over classes, say they do not apply.
/// </summary>
public sealed partial class LocalApi
{
    private bool ServesTargets => Shared.Models.ModelArchitectures.TakesTargets(_agent.CurrentModel?.Architecture.Graph);

    private bool ServesMultiLabel => _agent.CurrentModel?.Architecture.Graph?.MultiLabels > 0;

    private bool ServesPositions => _agent.CurrentModel?.Architecture.Graph?.PositionClasses > 0;

    private bool ServesTasks => _agent.CurrentModel?.Architecture.Graph?.Tasks.Count > 0;

    private string TargetsKind => ServesMultiLabel ? "a multi-label classifier" : ServesPositions ? "a per-position classifier" : ServesTasks ? "a multi-task model" : "a regressor";

    /// <summary>A 409 for a route that reads one distribution over classes while the served model is a regressor or multi-label classifier, else null.</summary>
    private int? NotARegressor(Utf8JsonWriter json) =>
        ServesTargets ? Error(json, 409, $"this model is {TargetsKind}: explanations read one distribution over classes (POST /v1/predict answers its {(ServesMultiLabel ? "label probabilities" : ServesPositions ? "class at every position" : ServesTasks ? "tasks" : "values")})") : null;

    private int WriteValues(float[] features, Utf8JsonWriter json, string? session = null)
    {
        var result = _agent.PredictValues(features, session);
        WriteSession(json, session, result.StateReset);
        json.WriteString("predictionId", result.PredictionId);
        WriteAnswer(json, result.Values, _agent.CurrentModel?.Architecture.Graph);
        json.WriteNumber("modelVersion", result.ModelVersion);
        return 200;
    }

    /// <summary>A streaming model's session and whether its call started from zeros (nothing outside a session).</summary>
    private static void WriteSession(Utf8JsonWriter json, string? session, bool? reset)
    {
        if (session is null) return;
        json.WriteString("session", session);
        json.WriteBoolean("stateReset", reset == true);
    }

    /// <summary>
    /// A regressor's <c>"values"</c>, a multi-label classifier's <c>"probabilities"</c> and the <c>"labels"</c> above the
    /// threshold, a per-position classifier's <c>"labels"</c>: the class id at every position, row-major; or a multi-task
    /// model's <c>"tasks"</c>: by output, a classifier task's <c>"label"</c>, a per-position task's <c>"labels"</c>, a regression task's <c>"values"</c>.
    /// </summary>
    internal static void WriteAnswer(Utf8JsonWriter json, float[] values, Shared.Protocol.V1.GraphInterfaceSpec? graph)
    {
        if (graph?.Tasks.Count > 0)
        {
            WriteTasks(json, values, graph.Tasks);
            return;
        }

        if (graph?.PositionClasses > 0)
        {
            WritePositionLabels(json, values);
            return;
        }

        if (graph?.MultiLabels > 0)
        {
            WriteLabels(json, values);
            return;
        }

        json.WriteStartArray("values");
        foreach (var v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }

    /// <summary>A class id at every position, row-major, as <c>"labels"</c>: a per-position classifier's answer, or a per-position task's.</summary>
    private static void WritePositionLabels(Utf8JsonWriter json, ReadOnlySpan<float> ids)
    {
        json.WriteStartArray("labels");
        foreach (var v in ids) json.WriteNumberValue((int)v);
        json.WriteEndArray();
    }

    /// <summary>Label probabilities as <c>"probabilities"</c>, and the <c>"labels"</c> above the threshold: a multi-label classifier's answer, or a multi-label task's.</summary>
    private static void WriteLabels(Utf8JsonWriter json, ReadOnlySpan<float> probabilities)
    {
        json.WriteStartArray("probabilities");
        foreach (var p in probabilities) json.WriteNumberValue(p);
        json.WriteEndArray();
        json.WriteStartArray("labels");
        for (var i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] > Runtime.InferenceModel.LabelThreshold) json.WriteNumberValue(i);
        }

        json.WriteEndArray();
    }

    /// <summary>A multi-task model's answer: <c>"tasks": {"digit": {"label": 3}, "bottom": {"values": [...]}, "attributes": {"probabilities": [...], "labels": [...]}, "segments": {"labels": [...]}}</c>, in the declared order.</summary>
    private static void WriteTasks(Utf8JsonWriter json, float[] values, IEnumerable<Shared.Protocol.V1.ModelTaskSpec> tasks)
    {
        json.WriteStartObject("tasks");
        var offset = 0;
        foreach (var task in tasks)
        {
            json.WriteStartObject(task.Output);
            if (task.Classes > 0 && task.Dims.Count > 0)
            {
                var positions = (int)task.Dims.Aggregate(1L, (a, d) => a * d);
                WritePositionLabels(json, values.AsSpan(offset, positions));
                offset += positions;
            }
            else if (task.Classes > 0)
            {
                json.WriteNumber("label", (int)values[offset++]);
            }
            else if (task.Labels > 0)
            {
                WriteLabels(json, values.AsSpan(offset, (int)task.Labels));
                offset += (int)task.Labels;
            }
            else
            {
                var width = (int)task.Dims.Aggregate(1L, (a, d) => a * d);
                json.WriteStartArray("values");
                foreach (var v in values.AsSpan(offset, width)) json.WriteNumberValue(v);
                json.WriteEndArray();
                offset += width;
            }

            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>The ground truth of a regressor or multi-label classifier: <c>{"predictionId", "target"}</c> or <c>{"features", "target"}</c>.</summary>
    private int StoreTargets(float[]? features, long? label, float[]? target, string? predictionId, Utf8JsonWriter json)
    {
        if (label is not null || target is null || (features is null) == (predictionId is null))
        {
            var numbers = ServesMultiLabel ? "[0 or 1 per label]" : ServesPositions ? "[a class id per position]" : ServesTasks ? "[each task's in order: a class id, its 0/1 labels, its values, or a class id per position]" : "[numbers]";
            return Error(json, 400, $"this model is {TargetsKind}: body must be {{\"predictionId\": \"...\", \"target\": {numbers}}} or {{\"features\": [...], \"target\": {numbers}}}");
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
                if (!info.Architecture.TakesSampleOf(features!.Length)) return Error(json, 422, $"expected {info.Architecture.SampleSizeText()} features, got {features.Length}");
                if (_agent.SampleRefusal(features) is { } why) return Error(json, 422, why); // it could never train (the agent counted it)
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
