namespace EdgeMlOps.Aggregator.Registry;

/// <summary>Round notes (ε spent, clip norm, staleness…) as a small JSON object.</summary>
internal static class NotesText
{
    public static string? Write(IReadOnlyDictionary<string, double>? notes)
    {
        if (notes is null || notes.Count == 0) return null;
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (key, value) in notes)
            {
                if (double.IsFinite(value)) json.WriteNumber(key, value);
                else json.WriteNull(key);
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static IReadOnlyDictionary<string, double>? Read(string? text)
    {
        if (text is null) return null;
        // Non-finite figures were stored as null and stay out: JSON has no NaN.
        using var document = System.Text.Json.JsonDocument.Parse(text);
        return document.RootElement.EnumerateObject()
            .Where(p => p.Value.ValueKind == System.Text.Json.JsonValueKind.Number)
            .ToDictionary(p => p.Name, p => p.Value.GetDouble(), StringComparer.Ordinal);
    }
}
