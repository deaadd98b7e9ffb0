using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Lines;

/// <summary>
/// Reads <c>Aggregator:Lines:NAME:...</c>: each line's settings are the fleet's with the line's on top, read by the
/// same rules as the fleet's first model (every problem reported under the line's own keys). What belongs to the
/// fleet — its name, broker, security, stores, root key, replicas, edge role — is set once, for the fleet, and
/// refused in a line (with replicas a line runs in the coordinator, its updates shared when its rules allow); what describes one model (its file and interface, held-out data, monitoring, pipeline, API
/// address) is never inherited from the first model.
/// </summary>
public static class ModelLinesConfiguration
{
    public const string Section = "Lines";

    private static readonly string[] FleetWide = ["Fleet", "ModelName", "DataDirectory", "Broker", "BrokerStartupWaitSeconds", "EmbeddedBrokerPort", "BrokerBindAddress", "Security", "Store", "Replicas", "Edge", "Trust:RootKeyFile", "Lines"];

    private static readonly string[] OwnToEachModel = ["Model", "ModelInterface", "Evaluation", "Monitoring", "Pipeline", "HttpUrl", "PublicBaseUrl", Section];

    private static readonly string[] LineOnly = ["Cohort", "MemoryMb"];

    /// <summary>The fleet's settings a line does not read as its own: with replicas its aggregator runs in the coordinator, its updates shared when its rules allow (<see cref="WithReplicas"/>).</summary>
    private static readonly string[] CoordinatorOnly = ["Replicas"];

    /// <summary>The lines configured under <paramref name="configuration"/> for the fleet <paramref name="fleet"/>; throws listing every problem.</summary>
    public static IReadOnlyList<ModelLineOptions> Read(IConfiguration configuration, AggregatorOptions fleet)
    {
        var lines = configuration.GetSection($"{AggregatorOptions.Section}:{Section}").GetChildren().ToList();
        if (lines.Count == 0) return [];
        var errors = new List<string>(); // in the edge role too: a gateway folds a line it knows into partials (GatewayLines)

        var read = new List<ModelLineOptions>();
        foreach (var line in lines)
        {
            var prefix = $"{AggregatorOptions.Section}:{Section}:{line.Key}";
            if (NameProblem(line.Key, fleet.ModelName) is { } problem)
            {
                errors.Add($"{prefix}: {problem}");
                continue;
            }

            try
            {
                read.Add(ReadLine(configuration, fleet, line));
            }
            catch (OptionsValidationException ex)
            {
                errors.AddRange(ex.Errors.Select(e => e.StartsWith(AggregatorOptions.Section + ":", StringComparison.Ordinal) ? prefix + e[AggregatorOptions.Section.Length..] : $"{prefix}: {e}"));
            }
        }

        var ports = read.Select(l => (Name: $"{AggregatorOptions.Section}:{Section}:{l.Name}:HttpUrl", l.Options.HttpUrl)).Prepend((Name: $"{AggregatorOptions.Section}:HttpUrl", fleet.HttpUrl));
        foreach (var clash in ports.GroupBy(p => new Uri(p.HttpUrl).Authority, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            errors.Add($"{string.Join(", ", clash.Select(c => c.Name))}: each model's API needs an address of its own, not {clash.Key} for all");
        }

        if (errors.Count > 0) throw new OptionsValidationException("aggregator", errors);
        return read;
    }

    private static ModelLineOptions ReadLine(IConfiguration configuration, AggregatorOptions fleet, IConfigurationSection line)
    {
        var own = new ConfigReader(line, string.Empty);
        var problems = new List<string>();
        foreach (var (key, _) in line.AsEnumerable(makePathsRelative: true))
        {
            if (FleetWide.FirstOrDefault(f => Is(key, f)) is { } fleetKey) problems.Add($"{key}: a fleet-wide setting: set {AggregatorOptions.Section}:{fleetKey} once, for every model");
        }

        if (line["Model"] is not { Length: > 0 }) problems.Add("Model: required: the line's model (onnx:PATH or a generated one such as mlp-784-64-10)");
        if (line["HttpUrl"] is not { Length: > 0 }) problems.Add("HttpUrl: required: the address of the line's API and console, e.g. https://127.0.0.1:8444");
        var cohort = line.GetSection("Cohort").GetChildren().Where(c => c.Value is not null)
            .ToDictionary(c => c.Key, c => (IReadOnlyList<string>)[.. c.Value!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)], StringComparer.Ordinal);
        var memoryMb = own.Int("MemoryMb", ModelLineOptions.DefaultMemoryMb, 1, 1 << 20);
        problems.AddRange(own.Errors);
        if (problems.Count > 0) throw new OptionsValidationException("aggregator", [.. problems.Select(p => $"{AggregatorOptions.Section}:{p}")]);

        // The fleet's settings, less what describes its first model, with the line's on top — read as the first model's are.
        var values = configuration.GetSection(AggregatorOptions.Section).AsEnumerable(makePathsRelative: true)
            .Where(p => p.Value is not null && !OwnToEachModel.Any(o => Is(p.Key, o)) && !CoordinatorOnly.Any(o => Is(p.Key, o)))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in line.AsEnumerable(makePathsRelative: true))
        {
            if (value is not null && !LineOnly.Any(o => Is(key, o))) values[key] = value;
        }

        var options = AggregatorOptions.LineFromConfiguration(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(p => new KeyValuePair<string, string?>($"{AggregatorOptions.Section}:{p.Key}", p.Value)))
            .Build());
        options = options with
        {
            Fleet = fleet.Fleet,
            Line = line.Key,
            ModelName = line.Key,
            DataDirectory = Path.Combine(fleet.DataDirectory, Section.ToLowerInvariant(), line.Key),
            Store = fleet.Store.ForLine(line.Key),
            Trust = options.Trust with { RootKeyFile = fleet.Trust.RootKeyFile ?? Path.Combine(fleet.DataDirectory, "keys", "root.pk8") },
        };
        return new ModelLineOptions(line.Key, WithReplicas(options, fleet), cohort, (ulong)memoryMb << 20);
    }

    /// <summary>
    /// With replicas, a line's updates are spread over them as the first model's are (its aggregator in the coordinator,
    /// each standing-by replica taking a share as <c>aggregator-replica-{name}_{line}</c>) — unless its rules need every
    /// update in one process (median, trimmed mean, Krum, DP, buffered rounds): then the coordinator takes them all.
    /// </summary>
    public static AggregatorOptions WithReplicas(AggregatorOptions line, AggregatorOptions fleet)
    {
        line = line with { Replicas = new Replicas.ReplicaOptions() };
        if (!fleet.Replicas.Enabled) return line;
        var shared = fleet.Replicas with { Line = line.Line };
        return shared.Problems(line.Store, line.Rounds.Mode, line.Strategy, line.Model).Any() ? line : line with { Replicas = shared };
    }

    /// <summary>Longest line name: it is a directory, a topic segment, part of a certificate's common name and of a schema's name.</summary>
    public const int MaxNameLength = 64;

    /// <summary>
    /// Why <paramref name="name"/> cannot name a model line of a fleet whose first model is <paramref name="firstModel"/>,
    /// or null: 1 to 64 ASCII letters, digits, '-' and '_', starting with a letter or digit — so its data directory
    /// (never <c>..</c>), topics, aggregator identity and configuration keys are its own.
    /// </summary>
    public static string? NameProblem(string name, string firstModel) =>
        name.Length is > 0 and <= MaxNameLength && char.IsAsciiLetterOrDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') && name != firstModel
            ? null
            : $"'{name}' cannot name a model line (1 to {MaxNameLength} letters, digits, '-' and '_', starting with a letter or digit; not the fleet's first model '{firstModel}')";

    /// <summary>True when <paramref name="key"/> is the setting <paramref name="name"/> or one below it.</summary>
    private static bool Is(string key, string name) =>
        key.Equals(name, StringComparison.OrdinalIgnoreCase) || key.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase);
}
