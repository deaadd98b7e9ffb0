using System.Text.Json;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>The one JSON shape apps use to hand the agent an input: <c>{"features": [...], "label": n, "predictionId": "..."}</c>.</summary>
public static class SampleJson
{
    /// <summary>Parses {"features": [numbers], "label": n, "predictionId": "..."} (all optional) strictly.</summary>
    public static bool TryParse(ReadOnlySpan<byte> body, out float[]? features, out long? label, out string? predictionId, out string? error)
    {
        features = null;
        label = null;
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
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "features":
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            error = "'features' must be an array of numbers";
                            return false;
                        }

                        var list = new List<float>();
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetSingle(out var v) || !float.IsFinite(v))
                            {
                                error = $"features[{list.Count}] is not a finite number";
                                return false;
                            }

                            list.Add(v);
                        }

                        features = list.ToArray();
                        break;
                    case "label":
                        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var l))
                        {
                            error = "'label' must be an integer";
                            return false;
                        }

                        label = l;
                        break;
                    case "predictionId":
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

}
