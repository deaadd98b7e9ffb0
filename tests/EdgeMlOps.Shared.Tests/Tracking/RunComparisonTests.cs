using EdgeMlOps.Shared.Tracking;

namespace EdgeMlOps.Shared.Tests.Tracking;

public sealed class RunComparisonTests
{
    private static RunRecord Run(string id, Func<long, string>? tensorHash = null, string fingerprint = "data-1", string exactSum = "true", Dictionary<string, long>? round2 = null) => new()
    {
        Id = id,
        Kind = "simulator",
        StartedAt = DateTimeOffset.UnixEpoch,
        Code = new RunCode("abc123", "1.0.0"),
        Environment = new RunEnvironmentInfo("Linux", ".NET 10", "X64", 2, new Dictionary<string, string> { ["Microsoft.ML.OnnxRuntime"] = "1.22.0" }),
        Model = new RunModel("digits", "mlp-4-3-2", 4, 2),
        Parameters = new Dictionary<string, string> { ["simulator.seed"] = "1", ["strategy.exactSum"] = exactSum },
        Data = new RunData("synthetic", "iid", 3, 30, fingerprint, new Dictionary<string, long> { ["a"] = 10, ["b"] = 10, ["c"] = 10 }),
        Rounds =
        [
            new RunRound(1, "Completed", 1, 2, 2, 2, 20, 0.5, 1, 1, 1, new Dictionary<string, long> { ["a"] = 10, ["b"] = 10 }),
            new RunRound(2, "Completed", 2, 3, 2, 2, 20, 0.6, 1, 1, 1, round2 ?? new Dictionary<string, long> { ["b"] = 10, ["c"] = 10 }),
        ],
        Versions = Enumerable.Range(1, 3).Select(v => new VersionFingerprint((ulong)v, v - 1, "sha" + v, new Dictionary<string, string>
        {
            ["layer0.weight"] = tensorHash?.Invoke(v - 1) ?? "w0-" + v,
            ["layer0.bias"] = "b0-" + v,
        })).ToArray(),
    };

    [Fact]
    public void TheSameVersions_AreBitIdentical()
    {
        var outcome = RunComparison.Reproduction(Run("a"), Run("b"), 3);
        Assert.True(outcome.Identical);
        Assert.Equal(2, outcome.VersionsCompared);
        Assert.Equal("bit-identical: 2 versions, every tensor", outcome.Summary);
    }

    [Fact]
    public void ATensorThatDiffers_IsNamedWithItsRound_AndUnexplainedDifferencesSaySo()
    {
        var again = Run("b", round => round == 2 ? "other" : "w0-" + (round + 1));
        var outcome = RunComparison.Reproduction(Run("a"), again, 3);
        Assert.False(outcome.Identical);
        Assert.Equal((2L, 3UL, "layer0.weight"), (outcome.Round!.Value, outcome.Version!.Value, outcome.Tensor));
        Assert.Contains("nondeterminism outside the record", Assert.Single(outcome.Reasons), StringComparison.Ordinal);

        // Up to v2 the runs agree.
        Assert.True(RunComparison.Reproduction(Run("a"), again, 2).Identical);
    }

    [Fact]
    public void TheReasons_NameDifferentData_Contributors_Parameters_AndArrivalOrder()
    {
        var again = Run("b", round => round == 2 ? "x" : "w0-" + (round + 1), fingerprint: "data-2", round2: new Dictionary<string, long> { ["b"] = 10, ["a"] = 10 });
        var reasons = RunComparison.Reproduction(Run("a", exactSum: "false"), again, 3).Reasons;
        Assert.Contains(reasons, r => r.StartsWith("the training data differ", StringComparison.Ordinal));
        Assert.Contains("round 2 had other contributors (missing c; new a)", reasons);
        Assert.Contains("parameter strategy.exactSum: false → true", reasons);
        Assert.Contains(reasons, r => r.Contains("without exact sums", StringComparison.Ordinal));
    }

    [Fact]
    public void AVersionNotMadeByARound_CannotBeReproduced()
    {
        var outcome = RunComparison.Reproduction(Run("a"), Run("b"), 1);
        Assert.False(outcome.Identical);
        Assert.Null(outcome.Round);
        Assert.Contains("no version 1 made by a round", outcome.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Parameters_ListOnlyWhatDiffers()
    {
        var other = Run("b") with { Parameters = new Dictionary<string, string> { ["simulator.seed"] = "2", ["strategy.exactSum"] = "true", ["simulator.devices"] = "9" } };
        Assert.Equal([new ParameterDifference("simulator.devices", null, "9"), new ParameterDifference("simulator.seed", "1", "2")], RunComparison.Parameters(Run("a"), other));
    }
}
