using System.Text.Json;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// The JSON of <c>POST /v1/infer</c>, read strictly against the declared interface:
/// <c>{"inputs": {"NAME": {"dims": [..], "data": [..]}, ...}, "session": "ID"}</c> — data row-major, numbers for
/// numeric tensors, <c>true</c>/<c>false</c> for bool, strings for string — and the answer's outputs written back
/// the same way, with each output's element type.
/// </summary>
public static class TensorJson
{
    /// <summary>Longest string element accepted (the request body limit bounds the total).</summary>
    public const int MaxStringLength = 65_536;

    public static bool TryParse(ReadOnlySpan<byte> body, TensorInterface declared, out List<NamedTensor> inputs, out string? session, out string? error)
    {
        inputs = [];
        session = null;
        error = null;
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { MaxDepth = 5 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return Fail("body must be a JSON object", out error);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var field = reader.GetString();
                reader.Read();
                if (field == "session")
                {
                    if (reader.TokenType != JsonTokenType.String || reader.GetString() is not { Length: > 0 and <= Serving.RecurrentSessions.MaxSessionIdLength } id)
                        return Fail($"'session' must be a string of 1 to {Serving.RecurrentSessions.MaxSessionIdLength} characters", out error);
                    session = id;
                }
                else if (field == "inputs")
                {
                    if (reader.TokenType != JsonTokenType.StartObject) return Fail("'inputs' must be an object of tensors by name", out error);
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                    {
                        var name = reader.GetString()!;
                        var signature = declared.Accepted.FirstOrDefault(i => i.Name == name);
                        if (signature is null) return Fail($"the model has no input '{name}' (inputs: {string.Join(", ", declared.Accepted.Select(i => i.Name))})", out error);
                        if (inputs.Any(i => i.Name == name)) return Fail($"input '{name}' is given twice", out error);
                        reader.Read();
                        if (!TryReadTensor(ref reader, signature, out var tensor, out error)) return false;
                        inputs.Add(tensor);
                    }
                }
                else
                {
                    return Fail($"unknown field '{field}' (expected inputs, session)", out error);
                }
            }

            return true;
        }
        catch (JsonException ex)
        {
            return Fail("malformed JSON: " + ex.Message, out error);
        }
    }

    /// <summary>Writes <c>"outputs": {"NAME": {"type": "float", "dims": [..], "data": [..]}}</c>.</summary>
    public static void WriteOutputs(Utf8JsonWriter json, IReadOnlyList<NamedTensor> outputs)
    {
        json.WriteStartObject("outputs");
        foreach (var output in outputs)
        {
            json.WriteStartObject(output.Name);
            json.WriteString("type", output.Type.ToString().ToLowerInvariant());
            json.WriteStartArray("dims");
            foreach (var d in output.Dims) json.WriteNumberValue(d);
            json.WriteEndArray();
            json.WriteStartArray("data");
            switch (output.Data)
            {
                case float[] f:
                    foreach (var v in f) WriteNumber(json, v);
                    break;
                case double[] d:
                    foreach (var v in d) WriteNumber(json, v);
                    break;
                case long[] l:
                    foreach (var v in l) json.WriteNumberValue(v);
                    break;
                case int[] i:
                    foreach (var v in i) json.WriteNumberValue(v);
                    break;
                case bool[] b:
                    foreach (var v in b) json.WriteBooleanValue(v);
                    break;
                case string[] s:
                    foreach (var v in s) json.WriteStringValue(v);
                    break;
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>JSON has no NaN or infinity: a model that makes one answers null there.</summary>
    private static void WriteNumber(Utf8JsonWriter json, double value)
    {
        if (double.IsFinite(value)) json.WriteNumberValue(value);
        else json.WriteNullValue();
    }

    private static bool TryReadTensor(ref Utf8JsonReader reader, TensorSignature signature, out NamedTensor tensor, out string? error)
    {
        tensor = null!;
        if (reader.TokenType != JsonTokenType.StartObject) return Fail($"input '{signature.Name}' must be {{\"dims\": [..], \"data\": [..]}}", out error);
        long[]? dims = null;
        Array? data = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var field = reader.GetString();
            reader.Read();
            if (field == "dims")
            {
                var list = new List<long>();
                if (reader.TokenType != JsonTokenType.StartArray) return Fail($"input '{signature.Name}': 'dims' must be an array of integers", out error);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var d) || list.Count >= TensorSignature.MaxRank) return Fail($"input '{signature.Name}': 'dims' must be at most {TensorSignature.MaxRank} integers", out error);
                    list.Add(d);
                }

                dims = [.. list];
            }
            else if (field == "data")
            {
                if (reader.TokenType != JsonTokenType.StartArray) return Fail($"input '{signature.Name}': 'data' must be an array", out error);
                if (!TryReadValues(ref reader, signature, out data, out error)) return false;
            }
            else
            {
                return Fail($"input '{signature.Name}': unknown field '{field}' (expected dims, data)", out error);
            }
        }

        if (dims is null || data is null) return Fail($"input '{signature.Name}' needs both 'dims' and 'data'", out error);
        tensor = new NamedTensor(signature.Name, signature.Type, dims, data);
        error = null;
        return true;
    }

    private static bool TryReadValues(ref Utf8JsonReader reader, TensorSignature signature, out Array? data, out string? error)
    {
        data = null;
        var what = signature.Type switch
        {
            TensorElement.Bool => "true or false",
            TensorElement.String => "strings",
            TensorElement.Int64 or TensorElement.Int32 => $"{signature.Type.ToString().ToLowerInvariant()} integers",
            _ => "numbers",
        };
        var floats = new List<double>();
        var integers = new List<long>();
        var flags = new List<bool>();
        var strings = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var ok = signature.Type switch
            {
                TensorElement.Float or TensorElement.Double => reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var v) && Add(floats, v),
                TensorElement.Int64 => reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var l) && Add(integers, l),
                TensorElement.Int32 => reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var i) && Add(integers, i),
                TensorElement.Bool => reader.TokenType is JsonTokenType.True or JsonTokenType.False && Add(flags, reader.GetBoolean()),
                _ => reader.TokenType == JsonTokenType.String && reader.GetString() is { Length: <= MaxStringLength } s && Add(strings, s),
            };
            if (!ok) return Fail($"input '{signature.Name}': 'data' must hold {what}{(signature.Type == TensorElement.String ? $" of at most {MaxStringLength} characters" : string.Empty)}", out error);
        }

        data = signature.Type switch
        {
            TensorElement.Float => floats.Select(v => (float)v).ToArray(),
            TensorElement.Double => floats.ToArray(),
            TensorElement.Int64 => integers.ToArray(),
            TensorElement.Int32 => integers.Select(v => (int)v).ToArray(),
            TensorElement.Bool => flags.ToArray(),
            _ => strings.ToArray(),
        };
        error = null;
        return true;
    }

    private static bool Add<T>(List<T> list, T value)
    {
        list.Add(value);
        return true;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }
}
