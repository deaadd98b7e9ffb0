using System.Text.Json;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// One held-out sample's row, as devices keep it: <c>"features"</c> (the flat row) or, for an uploaded model, its inputs
/// by name — <c>"inputs": {"measurements": […], "sex": [1]}</c>, every input once with exactly its values, laid out as
/// the features then each context input, a string input's strings kept as their category index — and every value an
/// int64 input takes checked to be an id.
/// </summary>
internal static class HeldOutRow
{
    /// <summary>The row of <paramref name="root"/>, or what is wrong with it.</summary>
    public static string? Read(JsonElement root, ModelSpec model, out float[] row)
    {
        row = [];
        var spans = model.Graph is { Tensors: null } graph ? graph.SampleSpans() : null;
        var hasFeatures = root.TryGetProperty("features", out var values);
        if (root.TryGetProperty("inputs", out var named))
        {
            if (hasFeatures) return "send 'features' or 'inputs', not both";
            if (spans is null || named.ValueKind != JsonValueKind.Object) return spans is null ? "'inputs' sends an uploaded model's inputs by name; this model takes 'features'" : "'inputs' must be an object: each input's name and its values";
            if (ReadNamed(named, spans, model.InputDim, out row) is { } problem) return problem;
        }
        else
        {
            if (!hasFeatures || values.ValueKind != JsonValueKind.Array) return "no 'features' array";
            if (!model.TakesSampleOf(values.GetArrayLength())) return $"{values.GetArrayLength()} features, the model takes {model.SampleSizeText}";
            row = new float[values.GetArrayLength()]; // samples of several lengths: any length the range allows
            if (Numbers(values, row, 0, "feature") is { } problem) return problem;
        }

        return spans is not null && Runtime.IntegerIds.FirstInvalid(spans, row) is var (bad, input)
            ? $"feature {bad} is {row[bad]}, not {input.Expected} for input '{input.Name}'"
            : null;
    }

    private static string? ReadNamed(JsonElement named, IReadOnlyList<GraphInterface.SampleSpan> spans, int width, out float[] row)
    {
        row = new float[width];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in named.EnumerateObject())
        {
            var span = spans.FirstOrDefault(s => s.Name == input.Name);
            if (span.Name is null) return $"the model has no input '{input.Name}' (inputs: {string.Join(", ", spans.Select(s => s.Name))})";
            if (!seen.Add(input.Name)) return $"input '{input.Name}' is given twice";
            var strings = span.Element == TensorElement.String;
            if (input.Value.ValueKind != JsonValueKind.Array || input.Value.GetArrayLength() != span.Length) return $"input '{input.Name}' takes an array of {span.Length} {(strings ? "strings" : "numbers")}";
            if ((strings ? Categories(input.Value, span, row) : Numbers(input.Value, row, span.Offset, $"inputs.{input.Name}")) is { } problem) return problem;
        }

        return spans.FirstOrDefault(s => !seen.Contains(s.Name)) is { Name: { } missing } ? $"input '{missing}' is missing (inputs: {string.Join(", ", spans.Select(s => s.Name))})" : null;
    }

    /// <summary>A string input's values as a row keeps them: each one's index among the categories, their count for an unknown one.</summary>
    private static string? Categories(JsonElement values, GraphInterface.SampleSpan span, float[] row)
    {
        var i = 0;
        foreach (var value in values.EnumerateArray())
        {
            if (value.ValueKind != JsonValueKind.String) return $"inputs.{span.Name} {i} is not a string (one of its {span.Categories.Count} categories, or any other string for one the model does not know)";
            row[span.Offset + i++] = StringCategories.IndexOf(span.Categories, value.GetString()!);
        }

        return null;
    }

    private static string? Numbers(JsonElement values, float[] row, int offset, string what)
    {
        var i = 0;
        foreach (var value in values.EnumerateArray())
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetSingle(out var x) || !float.IsFinite(x)) return $"{what} {i} is not a finite number";
            row[offset + i++] = x;
        }

        return null;
    }
}
