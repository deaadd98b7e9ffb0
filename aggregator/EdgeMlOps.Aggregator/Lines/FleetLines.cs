using System.Text.Json;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Lines;

/// <summary>
/// The fleet's model lines as they stand: those configured (<c>Aggregator:Lines</c>) and those an operator added at run
/// time through the admin API. An added line is read by the rules a configured one is (over the fleet's configuration,
/// every problem under its own keys), started, announced in the catalogue, and kept in <c>DATA/lines/added.json</c>,
/// which every read of the fleet's lines takes as configuration beneath the operator's own (<see cref="Read(IConfiguration, AggregatorOptions)"/>). The
/// lines run are read when this is made — when the aggregator takes the lead, so a standby on the shared data
/// directory runs the lines the leader it replaces kept, not those it read at its own start. Only an added line can be
/// removed here; a configured one is removed from the configuration.
/// </summary>
public sealed class FleetLines
{
    /// <summary>Where added lines are kept, under <c>DATA/lines</c>.</summary>
    public const string StoreFile = "added.json";

    private readonly AggregatorOptions _fleet;
    private readonly SemaphoreSlim _changing = new(1, 1);
    private readonly string _file;
    private IReadOnlyList<ModelLineOptions> _current;
    private Dictionary<string, Dictionary<string, string>> _added;

    public FleetLines(AggregatorOptions fleet)
    {
        _fleet = fleet;
        _file = StorePath(fleet.DataDirectory);
        _added = Load(_file);
        _current = fleet.Configuration is { } configuration && Kept(_added) != fleet.KeptLines ? Read(configuration, _added, fleet) : fleet.Lines;
    }

    /// <summary>Every line the fleet runs now, configured first, then added ones in the order they came.</summary>
    public IReadOnlyList<ModelLineOptions> Current => Volatile.Read(ref _current);

    /// <summary>The file of artifact <paramref name="sha256"/> in one of the lines' stores, or null (the fleet's API serves every line's).</summary>
    public string? ArtifactPath(string sha256) =>
        Current.Select(l => Registry.ArtifactStore.Find(Registry.ArtifactStore.RootIn(l.Options.DataDirectory), sha256)).FirstOrDefault(p => p is not null);

    /// <summary>Whether line <paramref name="name"/> was added at run time (and so may be removed here).</summary>
    public bool IsAdded(string name)
    {
        return Volatile.Read(ref _added).ContainsKey(name);
    }

    /// <summary>Starts a line's aggregator (the line host); a failure leaves the line out.</summary>
    public Func<ModelLineOptions, CancellationToken, Task>? Starting { get; set; }

    /// <summary>Stops a line's aggregator (the line host).</summary>
    public Func<string, Task>? Stopping { get; set; }

    /// <summary>The replicas a line's coordinator finds starved of that line's updates (the line host's), by line name.</summary>
    public Func<string, IReadOnlyList<string>>? ReplicasStarved { get; set; }

    /// <summary>After every change: the fleet publishes its catalogue again.</summary>
    public Func<CancellationToken, Task>? Changed { get; set; }

    /// <summary>
    /// Adds line <paramref name="name"/> with <paramref name="settings"/> (keys as under <c>Aggregator:Lines:NAME</c>:
    /// <c>Model</c>, <c>HttpUrl</c>, <c>Cohort:TAG</c>, <c>MemoryMb</c>, <c>Rounds:…</c>…): read, started, kept and announced.
    /// Throws <see cref="OptionsValidationException"/> listing every problem, <see cref="InvalidOperationException"/> for a name in use.
    /// </summary>
    public async Task<ModelLineOptions> AddAsync(string name, IReadOnlyDictionary<string, string> settings, CancellationToken cancellationToken)
    {
        await _changing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Current.Any(l => l.Name == name) || name == _fleet.ModelName) throw new InvalidOperationException($"the fleet already runs a model named '{name}'");
            if (ModelLinesConfiguration.NameProblem(name, _fleet.ModelName) is { } problem) throw new OptionsValidationException("aggregator", [$"{AggregatorOptions.Section}:{ModelLinesConfiguration.Section}:{name}: {problem}"]);
            var added = new Dictionary<string, Dictionary<string, string>>(_added, StringComparer.Ordinal) { [name] = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase) };
            var line = Read(added).SingleOrDefault(l => l.Name == name)
                ?? throw new OptionsValidationException("aggregator", [$"{AggregatorOptions.Section}:{ModelLinesConfiguration.Section}:{name}: not read"]);
            if (Starting is { } start) await start(line, cancellationToken).ConfigureAwait(false);
            try
            {
                Save(_file, added);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                if (Stopping is { } stop) await stop(name).ConfigureAwait(false); // not kept: not run either
                throw new IOException($"model line '{name}' could not be kept in {_file}: {ex.Message}", ex);
            }

            Volatile.Write(ref _added, added);
            Volatile.Write(ref _current, [.. Current, line]);
            await AnnounceAsync(cancellationToken).ConfigureAwait(false);
            return line;
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>Stops and forgets added line <paramref name="name"/> (its data stays under <c>DATA/lines/NAME</c> for when it comes back).</summary>
    public async Task RemoveAsync(string name, CancellationToken cancellationToken)
    {
        await _changing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Current.All(l => l.Name != name)) throw new KeyNotFoundException($"the fleet runs no model line '{name}'");
            if (!IsAdded(name)) throw new InvalidOperationException($"model line '{name}' is configured ({AggregatorOptions.Section}:{ModelLinesConfiguration.Section}:{name}): remove it from the configuration and restart");
            var added = new Dictionary<string, Dictionary<string, string>>(_added.Where(a => a.Key != name), StringComparer.Ordinal);
            Save(_file, added);
            Volatile.Write(ref _added, added);
            Volatile.Write(ref _current, [.. Current.Where(l => l.Name != name)]);
            if (Stopping is { } stop) await stop(name).ConfigureAwait(false);
            await AnnounceAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>The catalogue again; a broker out of reach gets it on reconnection (the fleet's retained statements go back then).</summary>
    private async Task AnnounceAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (Changed is { } changed) await changed(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)
        {
        }
    }

    /// <summary>The fleet's lines with <paramref name="added"/> in place of those kept.</summary>
    private IReadOnlyList<ModelLineOptions> Read(Dictionary<string, Dictionary<string, string>> added) =>
        Read(_fleet.Configuration ?? new ConfigurationBuilder().Build(), added, _fleet);

    /// <summary>
    /// The lines of <paramref name="fleet"/>: configured under <paramref name="configuration"/>, and added at run time
    /// and kept in its data directory now, beneath the configuration — so a line added at run time comes back at the
    /// next start as if configured — with the store they were read from (<see cref="Kept"/>). Throws listing every
    /// problem (a damaged store of added lines names its file).
    /// </summary>
    public static (IReadOnlyList<ModelLineOptions> Lines, string Kept) Read(IConfiguration configuration, AggregatorOptions fleet)
    {
        var added = Load(StorePath(fleet.DataDirectory));
        return (Read(configuration, added, fleet), Kept(added));
    }

    /// <summary>
    /// The lines as <see cref="Read(IConfiguration, AggregatorOptions)"/> reads them, or null lines when the store of
    /// added lines is still <paramref name="keptBefore"/> (the configuration does not change while running): reading
    /// a line opens its model file, which a standby that asks every few seconds should not do for nothing.
    /// </summary>
    public static (IReadOnlyList<ModelLineOptions>? Lines, string Kept) ReadIfChanged(IConfiguration configuration, AggregatorOptions fleet, string? keptBefore)
    {
        var added = Load(StorePath(fleet.DataDirectory));
        var kept = Kept(added);
        return (kept == keptBefore ? null : Read(configuration, added, fleet), kept);
    }

    /// <summary>The store of added lines as read, in a form two reads compare by.</summary>
    private static string Kept(Dictionary<string, Dictionary<string, string>> added) =>
        JsonSerializer.Serialize(added, FleetLinesJson.Default.DictionaryStringDictionaryStringString);

    private static IReadOnlyList<ModelLineOptions> Read(IConfiguration configuration, Dictionary<string, Dictionary<string, string>> added, AggregatorOptions fleet) =>
        ModelLinesConfiguration.Read(new ConfigurationBuilder().AddInMemoryCollection(Settings(added)).AddConfiguration(configuration).Build(), fleet);

    /// <summary>The configuration keys of the lines added at run time and kept in the data directory <paramref name="dataDirectory"/>.</summary>
    public static IEnumerable<KeyValuePair<string, string?>> StoredSettings(string dataDirectory) => Settings(Load(StorePath(dataDirectory)));

    private static IEnumerable<KeyValuePair<string, string?>> Settings(Dictionary<string, Dictionary<string, string>> added) =>
        added.SelectMany(line => line.Value.Select(s => new KeyValuePair<string, string?>($"{AggregatorOptions.Section}:{ModelLinesConfiguration.Section}:{line.Key}:{s.Key}", s.Value)));

    private static string StorePath(string dataDirectory) => Path.Combine(dataDirectory, ModelLinesConfiguration.Section.ToLowerInvariant(), StoreFile);

    private static Dictionary<string, Dictionary<string, string>> Load(string file)
    {
        if (Directory.Exists(file)) throw Damaged(file, "it cannot be read: it is a directory");
        if (!File.Exists(file)) return new(StringComparer.Ordinal);
        Dictionary<string, Dictionary<string, string>>? read; // JSON may hold nulls where the type says none
        try
        {
            read = JsonSerializer.Deserialize(File.ReadAllBytes(file), FleetLinesJson.Default.DictionaryStringDictionaryStringString);
        }
        catch (JsonException ex)
        {
            throw Damaged(file, $"they do not read ({ex.Message})");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Damaged(file, $"it cannot be read ({ex.Message})");
        }

        var lines = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var (name, settings) in read ?? [])
        {
            if (name.Length == 0) throw Damaged(file, "a line has no name");
            if (name.Contains(':', StringComparison.Ordinal)) throw Damaged(file, $"line '{name}' is not a line name"); // a key separator: it would read as another line's setting
            if (settings is null) throw Damaged(file, $"line '{name}' has no settings");
            if (settings.Keys.Any(string.IsNullOrWhiteSpace)) throw Damaged(file, $"line '{name}' has a setting without a name");
            if (settings.FirstOrDefault(s => s.Value is null) is { Key: { } empty, Value: null }) throw Damaged(file, $"line '{name}' setting '{empty}' has no value");
            lines[name] = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase);
        }

        return lines;
    }

    /// <summary>The start is refused and the file left as it is, so the operator's added lines are there to mend.</summary>
    private static OptionsValidationException Damaged(string file, string why) =>
        new("aggregator", [$"{file}: the model lines added at run time cannot be used: {why}; fix or remove the file"]);

    /// <summary>Written beside and renamed over, so a crash leaves the old file or the new one.</summary>
    private static void Save(string file, Dictionary<string, Dictionary<string, string>> added)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        Runtime.Storage.AtomicFile.Write(file, JsonSerializer.SerializeToUtf8Bytes(added, FleetLinesJson.Default.DictionaryStringDictionaryStringString), durable: true);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, Dictionary<string, string>>))]
internal sealed partial class FleetLinesJson : System.Text.Json.Serialization.JsonSerializerContext;
