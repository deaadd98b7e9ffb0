using System.Text.Json;

using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Aggregator.Tracking;

/// <summary>
/// Run records as one JSON file each in a directory (<c>experiments/</c> by default; like MLflow's file store): written
/// whole and renamed into place, so a reader never sees half a record.
/// </summary>
public sealed class RunStore(string directory)
{
    public string Directory { get; } = directory;

    public string Save(RunRecord record)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, record.Id + ".json");
        Runtime.Storage.AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(record, TrackingJson.Default.RunRecord), durable: false);
        return path;
    }

    /// <summary>Every readable record, oldest first; unreadable files are skipped and named in <paramref name="skipped"/>.</summary>
    public IReadOnlyList<RunRecord> All(List<string>? skipped = null)
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var records = new List<RunRecord>();
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllText(file), TrackingJson.Default.RunRecord) is { } record) records.Add(record);
            }
            catch (JsonException)
            {
                skipped?.Add(file);
            }
        }

        return records.OrderBy(r => r.StartedAt).ThenBy(r => r.Id, StringComparer.Ordinal).ToArray();
    }

    public RunRecord? Find(string id) => All().FirstOrDefault(r => r.Id == id);

    /// <summary>The newest run that made <paramref name="version"/> of <paramref name="model"/> (null: none recorded).</summary>
    public RunRecord? ThatMade(ulong version, string? model = null) =>
        All().LastOrDefault(r => (model is null || r.Model.Name == model) && r.Versions.Any(v => v.Version == version && v.Round > 0));
}
