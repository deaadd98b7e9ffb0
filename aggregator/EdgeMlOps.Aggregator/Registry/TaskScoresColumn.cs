using System.Text.Json;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>A version's per-task scores as the registry keeps them: <c>[{"output": "digit", "loss": 0.61, "score": 0.79}, …]</c> (null for none).</summary>
internal static class TaskScoresColumn
{
    public static string? Write(IReadOnlyList<TaskScore>? tasks)
    {
        if (tasks is null) return null;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var task in tasks)
            {
                json.WriteStartObject();
                json.WriteString("output", task.Output);
                Number(json, "loss", task.Loss);
                Number(json, "score", task.Score);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static IReadOnlyList<TaskScore> Read(string text)
    {
        using var document = JsonDocument.Parse(text);
        return [.. document.RootElement.EnumerateArray().Select(t => new TaskScore(t.GetProperty("output").GetString() ?? string.Empty, Value(t, "loss"), Value(t, "score")))];
    }

    /// <summary>A score that is not a number (R² of targets that do not vary) is kept as null.</summary>
    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v && double.IsFinite(v)) json.WriteNumber(name, v);
        else json.WriteNull(name);
    }

    private static double? Value(JsonElement task, string name) => task.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
}
