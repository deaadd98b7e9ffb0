using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Agent.Inputs;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// The bodies of <c>POST /v1/explain</c> (<c>{"features": […], "class": k}</c>, class optional) and <c>POST /v1/whatif</c>
/// (<c>{"features": […], "set": {"3": 1.5}, "sweep": {"feature": 3, "values": […]}}</c>), read strictly by hand for the
/// native-AOT build: unknown fields, non-finite numbers and malformed JSON are refused with the reason.
/// </summary>
internal static class ExplainJson
{
    public static bool TryParseExplain(ReadOnlySpan<byte> body, out float[]? features, out int? forClass, out string? error)
    {
        float[]? row = null;
        int? k = null;
        var ok = ReadObject(body, (string? name, ref Utf8JsonReader reader, out string? problem) =>
        {
            switch (name)
            {
                case "features":
                    return Numbers(ref reader, "features", out row, out problem);
                case "class":
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var value)) return Fail("'class' must be an integer", out problem);
                    k = value;
                    problem = null;
                    return true;
                default:
                    return Fail($"unknown field '{name}'", out problem);
            }
        }, out error);
        (features, forClass) = (row, k);
        return ok && (features is not null || Fail("body must be {\"features\": [numbers], \"class\": k (optional)}", out error));
    }

    public static bool TryParseWhatIf(ReadOnlySpan<byte> body, out float[]? features, out List<(int Feature, float Value)> set, out int sweepFeature, out float[] sweepValues, out string? error)
    {
        float[]? row = null;
        var changes = new List<(int Feature, float Value)>();
        var (sweptFeature, sweptValues) = (-1, Array.Empty<float>());
        var ok = ReadObject(body, (string? name, ref Utf8JsonReader reader, out string? problem) => name switch
        {
            "features" => Numbers(ref reader, "features", out row, out problem),
            "set" => Changes(ref reader, changes, out problem),
            "sweep" => Sweep(ref reader, out sweptFeature, out sweptValues, out problem),
            _ => Fail($"unknown field '{name}'", out problem),
        }, out error);
        (features, set, sweepFeature, sweepValues) = (row, changes, sweptFeature, sweptValues);
        return ok && (features is not null || Fail("body must be {\"features\": [numbers], \"set\": {\"k\": x}, \"sweep\": {\"feature\": k, \"values\": [numbers]}}", out error));
    }

    private delegate bool FieldReader(string? name, ref Utf8JsonReader reader, out string? error);

    /// <summary>Reads one JSON object, handing each field's value to <paramref name="field"/>; malformed JSON is an error with the parser's reason.</summary>
    private static bool ReadObject(ReadOnlySpan<byte> body, FieldReader field, out string? error)
    {
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 4 });
            if (!StartObject(ref reader, out error)) return false;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var name = reader.GetString();
                reader.Read();
                if (!field(name, ref reader, out error)) return false;
            }

            return true;
        }
        catch (JsonException ex)
        {
            return Fail("malformed JSON: " + ex.Message, out error);
        }
    }

    private static bool Changes(ref Utf8JsonReader reader, List<(int Feature, float Value)> set, out string? error)
    {
        error = null;
        if (reader.TokenType != JsonTokenType.StartObject) return Fail("'set' must be an object {\"feature index\": value}", out error);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var key = reader.GetString();
            if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var feature)) return Fail($"'set' key '{key}' is not a feature index", out error);
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetSingle(out var value) || !float.IsFinite(value)) return Fail($"'set' value of feature {feature} is not a finite number", out error);
            set.Add((feature, value));
        }

        return true;
    }

    private static bool Sweep(ref Utf8JsonReader reader, out int feature, out float[] values, out string? error)
    {
        feature = -1;
        values = [];
        error = null;
        if (reader.TokenType != JsonTokenType.StartObject) return Fail("'sweep' must be {\"feature\": k, \"values\": [numbers]}", out error);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            if (name == "feature")
            {
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out feature)) return Fail("'sweep.feature' must be an integer", out error);
            }
            else if (name == "values")
            {
                if (!Numbers(ref reader, "sweep.values", out var read, out error)) return false;
                values = read!;
            }
            else
            {
                return Fail($"unknown field 'sweep.{name}'", out error);
            }
        }

        return (feature >= 0 && values.Length > 0) || Fail("'sweep' needs a 'feature' and a non-empty 'values' array", out error);
    }

    private static bool Numbers(ref Utf8JsonReader reader, string field, out float[]? values, out string? error)
    {
        values = null;
        if (reader.TokenType != JsonTokenType.StartArray) return Fail($"'{field}' must be an array of numbers", out error);
        return SampleJson.TryReadNumbers(ref reader, out values, out error, field);
    }

    private static bool StartObject(ref Utf8JsonReader reader, out string? error)
    {
        error = null;
        return (reader.Read() && reader.TokenType == JsonTokenType.StartObject) || Fail("body must be a JSON object", out error);
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}
