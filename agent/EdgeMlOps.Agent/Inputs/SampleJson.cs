using System.Text.Json;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// The one JSON shape apps use to hand the agent an input: <c>{"features": [...], "label": n, "predictionId": "..."}</c>,
/// or for a regressor <c>"target": [...]</c> (its ground truth values) in place of the label. A model with context inputs
/// may be sent its inputs by name instead of the flat row: <c>{"inputs": {"measurements": [...], "sex": [1]}}</c>
/// (given its <see cref="SampleLayout"/>), which becomes the same row.
/// </summary>
public static class SampleJson
{
    /// <summary>Parses {"features": [numbers], "label": n, "predictionId": "..."} (all optional) strictly; a target is refused.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out string? predictionId, out string? error, SampleLayout? layout = null)
    {
        if (!TryParse(body, out features, out label, out var target, out predictionId, out error, layout)) return false;
        if (target is null) return true;
        error = "'target' is a regressor's ground truth; this model takes a 'label'";
        return false;
    }

    /// <summary>Parses {"features": [numbers], "label": n, "target": [numbers], "predictionId": "..."} (all optional) strictly; a session is refused.</summary>
    /// <remarks>With <paramref name="layout"/>, <c>"inputs"</c> may replace <c>"features"</c>: every input of the layout by name, each with exactly its values.</remarks>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out float[]? target, out string? predictionId, out string? error, SampleLayout? layout = null)
    {
        if (!TryParse(body, out features, out label, out target, out predictionId, out var session, out error, layout)) return false;
        if (session is null) return true;
        error = "'session' carries a streaming model's state between predictions: it applies to POST /v1/predict only";
        return false;
    }

    /// <summary>
    /// As above, with <c>"session"</c>: a streaming model's session, whose state the device carries between
    /// predictions (a state input may then be left out of <c>"inputs"</c>).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out float[]? target, out string? predictionId, out string? session, out string? error, SampleLayout? layout = null)
    {
        float[]? named = null;
        features = null;
        label = null;
        target = null;
        predictionId = null;
        session = null;
        error = null;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 4 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                error = "body must be a JSON object";
                return false;
            }

            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var field = reader.ValueTextEquals("features"u8) ? Field.Features
                    : reader.ValueTextEquals("label"u8) ? Field.Label
                    : reader.ValueTextEquals("predictionId"u8) ? Field.PredictionId
                    : reader.ValueTextEquals("target"u8) ? Field.Target
                    : reader.ValueTextEquals("inputs"u8) ? Field.Inputs
                    : reader.ValueTextEquals("session"u8) ? Field.Session
                    : Field.Unknown;
                var name = field == Field.Unknown ? reader.GetString() : null;
                reader.Read();
                switch (field)
                {
                    case Field.Features:
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            error = "'features' must be an array of numbers";
                            return false;
                        }

                        if (!TryReadNumbers(ref reader, out features, out error)) return false;
                        break;
                    case Field.Target:
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            error = "'target' must be an array of numbers";
                            return false;
                        }

                        if (!TryReadNumbers(ref reader, out target, out error, "target")) return false;
                        break;
                    case Field.Inputs:
                        if (reader.TokenType != JsonTokenType.StartObject)
                        {
                            error = "'inputs' must be an object: each input's name and its values";
                            return false;
                        }

                        if (!TryReadInputs(ref reader, layout, out named, out error)) return false;
                        break;
                    case Field.Label:
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var l))
                        {
                            error = "'label' must be an integer";
                            return false;
                        }

                        label = l;
                        break;
                    case Field.PredictionId:
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            error = "'predictionId' must be a string";
                            return false;
                        }

                        predictionId = reader.GetString();
                        break;
                    case Field.Session:
                        if (reader.TokenType != JsonTokenType.String || reader.GetString() is not { Length: > 0 and <= Serving.RecurrentSessions.MaxSessionIdLength } id)
                        {
                            error = $"'session' must be a string of 1 to {Serving.RecurrentSessions.MaxSessionIdLength} characters";
                            return false;
                        }

                        session = id;
                        break;
                    default:
                        error = $"unknown field '{name}'";
                        return false;
                }
            }

            if (named is not null && features is not null)
            {
                error = "send 'features' or 'inputs', not both";
                return false;
            }

            features ??= named;
            return true;
        }
        catch (JsonException ex)
        {
            error = "malformed JSON: " + ex.Message;
            return false;
        }
    }

    private enum Field
    {
        Unknown,
        Features,
        Label,
        PredictionId,
        Target,
        Inputs,
        Session,
    }

    /// <summary>Reads <c>{"name": [numbers], ...}</c> into one row laid out by <paramref name="layout"/>: every input once, each with exactly its values.</summary>
    private static bool TryReadInputs(ref Utf8JsonReader reader, SampleLayout? layout, out float[]? row, out string? error)
    {
        row = null;
        error = null;
        if (layout is null)
        {
            error = "'inputs' sends an uploaded model's inputs by name; this model takes 'features'";
            return false;
        }

        var given = new float[layout.Spans.Count][];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString() ?? string.Empty;
            var index = -1;
            for (var i = 0; i < layout.Spans.Count && index < 0; i++) if (layout.Spans[i].Name == name) index = i;
            if (index < 0 || given[index] is not null)
            {
                error = index < 0 ? $"the model has no input '{name}' (inputs: {string.Join(", ", layout.Spans.Select(s => s.Name))})" : $"input '{name}' is given twice";
                return false;
            }

            reader.Read();
            var span = layout.Spans[index];
            var strings = span.Element == Shared.Models.TensorElement.String;
            if (reader.TokenType != JsonTokenType.StartArray)
            {
                error = $"inputs.{name} must be an array of {(strings ? "strings" : "numbers")}";
                return false;
            }

            float[]? got;
            if (strings ? !TryReadCategories(ref reader, span, out got, out error) : !TryReadNumbers(ref reader, out got, out error, $"inputs.{name}")) return false;
            given[index] = got!;
        }

        if (Enumerable.Range(0, given.Length).FirstOrDefault(i => given[i] is null && !layout.Optional[i], -1) is var missing and >= 0) // a streaming model's state may be left out: zeros, or the session's
        {
            error = $"input '{layout.Spans[missing].Name}' is missing (inputs: {string.Join(", ", layout.Spans.Select(s => s.Name))})";
            return false;
        }

        var laid = layout.WithFeatures(given[0]?.Length ?? layout.Spans[0].Length); // the features of a sample of another length the model takes
        var values = new float[laid.RowLength];
        for (var i = 0; i < given.Length; i++)
        {
            if (given[i] is not { } got) continue;
            var span = laid.Spans[i];
            if (got.Length != span.Length)
            {
                error = i == 0 && laid.Varying is { } varying
                    ? $"input '{span.Name}' takes {varying.Shortest * varying.StepWidth} to {varying.Longest * varying.StepWidth} values in steps of {varying.StepWidth} ({varying.Shortest} to {varying.Longest} '{varying.Name}'), got {got.Length}"
                    : $"input '{span.Name}' takes {span.Length} values, got {got.Length}";
                return false;
            }

            got.CopyTo(values, span.Offset);
        }

        row = values;
        return true;
    }

    /// <summary>
    /// Reads a string input's array as the row keeps it: each string's index among the input's categories, their count
    /// for a string the model does not know (<see cref="Shared.Models.StringCategories"/>).
    /// </summary>
    private static bool TryReadCategories(ref Utf8JsonReader reader, Shared.Models.GraphInterface.SampleSpan span, out float[]? values, out string? error)
    {
        values = null;
        error = null;
        var indices = new List<float>(span.Length);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String || indices.Count >= span.Length)
            {
                error = reader.TokenType != JsonTokenType.String
                    ? $"inputs.{span.Name}[{indices.Count}] is not a string (input '{span.Name}' takes one of its {span.Categories.Count} categories, or any other string for one the model does not know)"
                    : $"input '{span.Name}' takes {span.Length} values, got more";
                return false;
            }

            indices.Add(Shared.Models.StringCategories.IndexOf(span.Categories, reader.GetString()!));
        }

        values = [.. indices];
        return true;
    }

    /// <summary>Reads a number array into a pooled scratch buffer and copies out exactly what was read: one allocation.</summary>
    internal static bool TryReadNumbers(ref Utf8JsonReader reader, out float[]? values, out string? error, string field = "features")
    {
        values = null;
        error = null;
        var scratch = System.Buffers.ArrayPool<float>.Shared.Rent(1024);
        var count = 0;
        try
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetSingle(out var v) || !float.IsFinite(v))
                {
                    error = $"{field}[{count}] is not a finite number";
                    return false;
                }

                if (count == scratch.Length)
                {
                    var larger = System.Buffers.ArrayPool<float>.Shared.Rent(scratch.Length * 2);
                    scratch.AsSpan(0, count).CopyTo(larger);
                    System.Buffers.ArrayPool<float>.Shared.Return(scratch);
                    scratch = larger;
                }

                scratch[count++] = v;
            }

            values = scratch.AsSpan(0, count).ToArray();
            return true;
        }
        finally
        {
            System.Buffers.ArrayPool<float>.Shared.Return(scratch);
        }
    }
}
