namespace EdgeMlOps.Simulator.Tests;

/// <summary>Fleet simulations share two cores: run them one after another, never beside each other.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FleetCollection
{
    public const string Name = "fleet";
}
