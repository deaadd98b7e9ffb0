namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>Every strategy by name: what configuration, the simulator's <c>--strategy</c> and validation read.</summary>
public static class StrategyCatalog
{
    private static readonly StrategyPreset[] Presets =
        [new FedAvg(), new FedProx(), new FedAvgM(), new FedAdam(), new FedYogi(), new FedAdagrad(), new FedMedian(), new FedTrimmedAvg(), new Krum(), new MultiKrum()];

    /// <summary>The names, in the order they are documented.</summary>
    public static IReadOnlyList<string> Names { get; } = Presets.Select(p => p.Name).ToArray();

    /// <summary>The strategy called <paramref name="name"/>, or null.</summary>
    public static StrategyPreset? Find(string name) => Array.Find(Presets, p => p.Name == name);
}
