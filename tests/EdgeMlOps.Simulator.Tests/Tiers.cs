namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Test tiers: everything not marked is a unit or integration test (seconds); <see cref="Experiment"/> marks the runs
/// that measure something over many rounds or devices (minutes). <c>bash .ci/run</c> runs every tier; a developer's
/// quick loop is <c>dotnet test EdgeMlOps.sln --filter "Tier!=experiment"</c>, the experiments alone
/// <c>dotnet test tests/EdgeMlOps.Simulator.Tests --filter Tier=experiment</c>.
/// </summary>
internal static class Tiers
{
    public const string Name = "Tier";
    public const string Experiment = "experiment";
}
