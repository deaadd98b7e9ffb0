using System.Text.Json;
using EdgeMlOps.Agent.Serving;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Http;

/// <summary>Writes explanation and what-if answers, and maps a refusal to its HTTP status.</summary>
internal static class ExplainResponses
{
    /// <summary>Inputs listed in <c>top</c>, by absolute contribution.</summary>
    public const int TopInputs = 10;

    public static int Status(ExplainRefusal refusal) => refusal switch
    {
        ExplainRefusal.NoModel => 503,
        ExplainRefusal.WrongWidth or ExplainRefusal.BadRequest => 422,
        ExplainRefusal.NoBackground => 409,
        ExplainRefusal.Busy => 429,
        _ => 500,
    };

    public static void Write(Utf8JsonWriter w, LocalExplanation e)
    {
        var k = e.Class;
        var values = e.Shapley.Values[k];
        w.WriteNumber("modelVersion", e.ModelVersion);
        w.WriteNumber("label", e.Label);
        w.WriteNumber("class", k);
        w.WriteString("method", e.Shapley.Method);
        w.WriteNumber("coalitions", e.Shapley.Coalitions);
        w.WriteNumber("backgroundRows", e.Shapley.BackgroundRows);
        w.WriteNumber("baseValue", e.Shapley.BaseValues[k]);
        w.WriteNumber("output", e.Shapley.Output[k]);
        w.WriteStartArray("values");
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
        w.WriteStartArray("top");
        foreach (var j in Enumerable.Range(0, values.Length).OrderByDescending(j => Math.Abs(values[j])).ThenBy(j => j).Take(TopInputs))
        {
            w.WriteStartObject();
            w.WriteNumber("feature", j);
            w.WriteNumber("value", values[j]);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteNumber("tookMs", e.Took.TotalMilliseconds);
    }

    public static void Write(Utf8JsonWriter w, WhatIfAnswer a)
    {
        w.WriteNumber("modelVersion", a.ModelVersion);
        w.WriteStartObject("original");
        Prediction(w, a.Original, 0);
        w.WriteEndObject();
        w.WriteStartObject("changed");
        Prediction(w, a.Changed, 0);
        w.WriteEndObject();
        if (a.Sweep is { } sweep)
        {
            w.WriteStartObject("sweep");
            w.WriteNumber("feature", a.SweepFeature);
            w.WriteStartArray("points");
            for (var i = 0; i < a.SweepValues.Length; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("value", a.SweepValues[i]);
                Prediction(w, sweep, i);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    private static void Prediction(Utf8JsonWriter w, PredictionBatch batch, int row)
    {
        w.WriteNumber("label", batch.Labels[row]);
        w.WriteStartArray("probabilities");
        foreach (var p in batch.Probabilities.AsSpan(row * batch.Classes, batch.Classes)) w.WriteNumberValue(p);
        w.WriteEndArray();
    }
}
