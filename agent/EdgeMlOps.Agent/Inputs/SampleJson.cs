using System.Text.Json;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// The one JSON shape apps use to hand the agent an input: <c>{"features": [...], "label": n, "predictionId": "..."}</c>,
/// or for a regressor <c>"target": [...]</c> (its ground truth values) in place of the label.
/// </summary>
public static class SampleJson
{
    /// <summary>Parses {"features": [numbers], "label": n, "predictionId": "..."} (all optional) strictly; a target is refused.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out string? predictionId, out string? error)
    {
        if (!TryParse(body, out features, out label, out var target, out predictionId, out error)) return false;
        if (target is null) return true;
        error = "'target' is a regressor's ground truth; this model takes a 'label'";
        return false;
    }

    /// <summary>Parses {"features": [numbers], "label": n, "target": [numbers], "predictionId": "..."} (all optional) strictly.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out float[]? target, out string? predictionId, out string? error)
    {
        features = null;
        label = null;
        target = null;
        predictionId = null;
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
                    default:
                        error = $"unknown field '{name}'";
                        return false;
                }
            }

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
