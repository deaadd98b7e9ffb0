namespace EdgeMlOps.Tests;

/// <summary>The fuzzers' seed: a fixed draw in CI, another one replayed with <c>EDGEMLOPS_FUZZ_SEED=N</c>.</summary>
internal static class FuzzSeed
{
    public const int Default = 20261207;

    public static int Value => int.TryParse(Environment.GetEnvironmentVariable("EDGEMLOPS_FUZZ_SEED"), out var seed) ? seed : Default;
}
