using System.Text.Json;
using EdgeMlOps.Agent.Inputs;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// Ids and flags on the local API: a model whose features — or one of whose context inputs — take int64 ids gets whole
/// numbers in [0, 2^24), and a bool context input 0 or 1, from every route that feeds it (predict, feedback, explain,
/// what-if), or a 422 naming the value and input.
/// </summary>
public sealed partial class LocalApi
{
    /// <summary>A 422 naming the first value of <paramref name="row"/> fed as an id (the features', then any int64 context input's) that is not one; null when all are.</summary>
    private static int? NotAnId(Shared.Protocol.V1.GraphInterfaceSpec? graph, float[] row, Utf8JsonWriter json) =>
        SampleLayout.Of(graph) is { } layout && Runtime.IntegerIds.FirstInvalid(layout.At(row.Length).Spans, row) is var (at, input)
            ? Error(json, 422, $"features[{at}] is {row[at]}, not {input.Expected}"
                + (input.Offset == 0 ? string.Empty : $" for its context input '{input.Name}'"))
            : null;

    /// <summary>A 422 when a what-if question would feed an id something that is not one: the row as set, then each swept value.</summary>
    private static int? WhatIfNotAnId(Shared.Protocol.V1.GraphInterfaceSpec? graph, float[] row, IReadOnlyList<(int Feature, float Value)> set, int sweepFeature, float[] sweepValues, Utf8JsonWriter json)
    {
        var changed = (float[])row.Clone();
        foreach (var (feature, value) in set) if ((uint)feature < (uint)changed.Length) changed[feature] = value; // out of range: the explainer says so
        if (NotAnId(graph, changed, json) is { } refused) return refused;
        if ((uint)sweepFeature >= (uint)changed.Length) return null;
        foreach (var value in sweepValues)
        {
            changed[sweepFeature] = value;
            if (NotAnId(graph, changed, json) is { } swept) return swept;
        }

        return null;
    }
}
