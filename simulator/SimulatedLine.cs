using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator;

/// <summary>
/// A further model the simulated fleet runs beside its first (<c>--line NAME=mlp-D-H-C</c>, a model line): a generated
/// MLP trained on a synthetic dataset of its own shape — seeded by the run's seed and the line's name, split into a
/// training pool the devices share out as they do the first model's and a held-out set the line's aggregator scores.
/// </summary>
public sealed record SimulatedLine(string Name, ModelSpec Spec)
{
    /// <summary>Reads <c>NAME=mlp-D-H-C</c> (or <c>NAME=logreg-D-C</c>); the error says what is wrong.</summary>
    public static SimulatedLine? TryParse(string text, out string? error)
    {
        error = null;
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        var name = equals > 0 ? text[..equals] : string.Empty;
        if (!Shared.Protocol.Topics.IsValidSegment(name))
        {
            error = $"'{text}' is not NAME=MODEL with NAME a topic segment (e.g. kws=mlp-16-32-4)";
            return null;
        }

        try
        {
            var spec = ModelSpecText.Parse(text[(equals + 1)..]);
            if (!spec.IsClassifier || spec.Graph is not null) throw new FormatException("a line of the simulator is a generated classifier");
            return new SimulatedLine(name, spec);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            error = $"'{text}': {ex.Message} (e.g. kws=mlp-16-32-4)";
            return null;
        }
    }

    public override string ToString() => $"{Name}={Spec}";
}

/// <summary>A simulated line's data: its training pool, each device's part of it, and its held-out set.</summary>
public sealed record SimulatedLineData(SimulatedLine Line, Dataset Pool, Dataset Test, int[][] Parts)
{
    /// <summary>The line's synthetic data, as large as the first model's (<c>--synthetic-samples</c>, <c>--test-size</c>), partitioned as it is.</summary>
    public static SimulatedLineData Load(SimulatedLine line, SimulationOptions options)
    {
        var seed = options.Seed ^ line.Name.Aggregate(17, (h, c) => unchecked((h * 31) + c)); // stable across processes, unlike string.GetHashCode
        var data = SyntheticDataset.Generate(options.SyntheticSamples + options.TestSize, line.Spec.InputDim, line.Spec.Classes, seed);
        var (pool, test) = data.Split(options.TestSize, seed);
        return new SimulatedLineData(line, pool, test, options.Partition.Split(pool, options.Devices, seed));
    }

    public string Name => Line.Name;

    /// <summary>What the line's aggregator scores each version on.</summary>
    public IModelEvaluator Evaluator() => new HeldOutEvaluator(Test.Features, Test.Labels);

    /// <summary>The line's settings: the fleet's, with its own model, name, directory, schema and the fleet's root key — as <c>Aggregator:Lines</c> reads them.</summary>
    public ModelLineOptions Options(AggregatorOptions fleet) => new(
        Name,
        ModelLinesConfiguration.WithReplicas(fleet with
        {
            Line = Name,
            ModelName = Name,
            Model = Line.Spec,
            ModelSource = null,
            DataDirectory = Path.Combine(fleet.DataDirectory, "lines", Name),
            Store = fleet.Store.ForLine(Name),
            Trust = fleet.Trust with { RootKeyFile = fleet.Trust.RootKeyFile ?? Path.Combine(fleet.DataDirectory, "keys", "root.pk8") },
            Lines = [],
        }, fleet),
        new Dictionary<string, IReadOnlyList<string>>(),
        (ulong)ModelLineOptions.DefaultMemoryMb << 20);
}
