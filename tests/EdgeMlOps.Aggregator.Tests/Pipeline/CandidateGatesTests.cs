using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Pipeline;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Explanations;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Tests.Pipeline;

/// <summary>Each gate of the retraining pipeline passes what it should, fails what it should, and fails when its measurement is missing.</summary>
public class CandidateGatesTests
{
    private static readonly CandidateGateLimits Every = new()
    {
        MaxHeldOutDrop = 0.02, FederatedDevices = 10, MaxFederatedDrop = 0.02, MinTopInputOverlap = 0.5, MaxSubgroupGapIncrease = 0.05,
        MaxLatencyRatio = 1.5, MinTrainingSamples = 100, MaxMissingShare = 0.05,
    };

    private static Dictionary<string, EvaluationScore> Scores(double all, double cohortA) => new()
    {
        [InferenceModel.AllCohorts] = new EvaluationScore(0.2, all, 1000),
        ["class=0"] = new EvaluationScore(0.2, cohortA, 200),
    };

    private static VersionExplanation Explanation(ulong version, int[] top, double gap) => new(
        "m", version, 100, 100, 1, 1, 0.9,
        top.Select((input, rank) => new InputImportance(input, 1.0 - rank * 0.1, 0)).Concat(Enumerable.Range(10, 5).Select(i => new InputImportance(i, 0.001, 0))).ToArray(),
        [], [], [new GroupGap("age", "accuracy", gap, "age=old", "age=young")], DateTimeOffset.UnixEpoch);

    private static WindowProfile Reference(int rows, int missingOnInput0)
    {
        var profile = new WindowProfile(3, 2);
        var random = new Random(1);
        for (var i = 0; i < rows; i++)
        {
            profile.AddInputs([i < missingOnInput0 ? float.NaN : (float)random.NextDouble(), (float)random.NextDouble(), 1f]);
        }

        return profile;
    }

    private static CandidateFacts Facts(
        double heldOut = 0.93, double cohort = 0.90, double federated = 0.91, int[]? top = null, double gap = 0.10, double latency = 1.1, int rows = 500, int missing = 0,
        string state = "validated", bool measured = true) => new(
        7, 4, state, "accuracy fine",
        measured ? Scores(heldOut, cohort) : null, measured ? Scores(0.92, 0.91) : null, 20,
        measured ? new FederatedEvaluationReport("e1", 4, 10, 10, 5000, 0.90, 0.3) : null,
        measured ? new FederatedEvaluationReport("e2", 7, 10, 10, 5000, federated, 0.3) : null,
        measured ? Explanation(7, top ?? [1, 2, 3, 4], gap) : null, measured ? Explanation(4, [1, 2, 3, 5], 0.08) : null, 4,
        measured ? new LatencyComparison(500, latency * 0.2, 0.2) : null,
        measured ? Reference(rows, missing) : null);

    private static GateCheck Gate(IReadOnlyList<GateCheck> checks, string name) => Assert.Single(checks, c => c.Gate == name);

    [Fact]
    public void AGoodCandidate_PassesEveryGate_WithItsFigures()
    {
        var checks = CandidateGates.Judge(Every, Facts());
        Assert.Equal(["registry", "held-out", "federated", "explainability", "subgroups", "latency", "data-quality"], checks.Select(c => c.Gate));
        Assert.All(checks, c => Assert.True(c.Passed, $"{c.Gate}: {c.Detail}"));
        Assert.Contains("0.9200 -> 0.9300", Gate(checks, "held-out").Detail, StringComparison.Ordinal);
        Assert.Contains("ratio 1.10", Gate(checks, "latency").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void EachGate_FailsOnItsOwnEvidence()
    {
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(state: "rejected")), "registry").Passed);
        var cohort = Gate(CandidateGates.Judge(Every, Facts(cohort: 0.85)), "held-out");
        Assert.False(cohort.Passed);
        Assert.Contains("class=0 0.9100 -> 0.8500", cohort.Detail, StringComparison.Ordinal);
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(federated: 0.87)), "federated").Passed);
        Assert.True(Gate(CandidateGates.Judge(Every, Facts(federated: 0.885)), "federated").Passed); // within 0.02
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(top: [6, 7, 8, 1])), "explainability").Passed);
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(gap: 0.20)), "subgroups").Passed);
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(latency: 1.8)), "latency").Passed);
        Assert.False(Gate(CandidateGates.Judge(Every, Facts(rows: 50)), "data-quality").Passed);
        var missing = Gate(CandidateGates.Judge(Every, Facts(missing: 100)), "data-quality");
        Assert.False(missing.Passed);
        Assert.Contains("input 0", missing.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingMeasurement_FailsItsGate_AndAGateTurnedOffIsNotJudged()
    {
        var checks = CandidateGates.Judge(Every, Facts(measured: false));
        Assert.All(checks.Where(c => c.Gate != "registry"), c => Assert.False(c.Passed, c.Gate));
        var off = CandidateGates.Judge(new CandidateGateLimits { MaxLatencyRatio = 0, MinTrainingSamples = 0, MaxMissingShare = 1 }, Facts());
        Assert.Equal(["registry", "held-out"], off.Select(c => c.Gate));
    }
}

/// <summary>How many people must approve a retrained version.</summary>
public class RequiredApprovalsTests
{
    [Theory]
    [InlineData(0, "validated", 0)]
    [InlineData(0, "candidate", 1)] // held for review by the registry: the policy alone cannot approve it
    [InlineData(2, "candidate", 2)]
    [InlineData(2, "validated", 2)]
    public void ThePolicysCount_ButAPersonWhenTheRegistryAsksForReview(int policy, string state, int required) =>
        Assert.Equal(required, PipelineApprovals.Required(policy, state));
}
