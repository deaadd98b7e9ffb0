using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Aggregator.Tests.Governance;

public sealed class ValidationGateTests
{
    private static readonly GovernanceOptions Options = new() { MaxCohortRegression = 0.02, ReviewChange = 0.10, MinCohortSamples = 20 };

    private static Dictionary<string, EvaluationScore> Scores(double all, double a, double b, int smallSamples = 100) => new()
    {
        ["all"] = new EvaluationScore(0.5, all, 200),
        ["class=0"] = new EvaluationScore(0.5, a, 100),
        ["class=1"] = new EvaluationScore(0.5, b, smallSamples),
    };

    [Fact]
    public void ImprovementWithNoCohortRegression_IsValidated()
    {
        var outcome = ValidationGate.Decide(Scores(0.90, 0.90, 0.90), Scores(0.88, 0.89, 0.87), Options);
        Assert.Equal(VersionStates.Validated, outcome.State);
        Assert.Equal(3, outcome.Cohorts.Count);
    }

    [Fact]
    public void RegressionInOneCohort_RejectsEvenWhenTheAverageImproves()
    {
        var outcome = ValidationGate.Decide(Scores(0.91, 0.99, 0.83), Scores(0.90, 0.90, 0.90), Options);
        Assert.Equal(VersionStates.Rejected, outcome.State);
        Assert.Contains("class=1", outcome.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("class=0", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void RegressionInACohortTooSmallToJudge_IsNotGated()
    {
        var outcome = ValidationGate.Decide(Scores(0.91, 0.95, 0.50, smallSamples: 5), Scores(0.90, 0.90, 0.90, smallSamples: 5), Options);
        Assert.Equal(VersionStates.Validated, outcome.State);
        Assert.False(outcome.Cohorts.Single(c => c.Cohort == "class=1").Gated);
    }

    [Fact]
    public void LargeUnexplainedChange_NeedsReview()
    {
        var outcome = ValidationGate.Decide(Scores(0.95, 0.95, 0.95), Scores(0.70, 0.70, 0.70), Options);
        Assert.Equal(VersionStates.Candidate, outcome.State);
        Assert.True(outcome.NeedsReview);
        Assert.Contains("review", outcome.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void NoLiveVersion_ValidatesAndNoEvaluationData_NeedsReview()
    {
        Assert.Equal(VersionStates.Validated, ValidationGate.Decide(Scores(0.5, 0.5, 0.5), null, Options).State);
        Assert.Equal(VersionStates.Candidate, ValidationGate.Decide(null, null, Options).State);
    }
}
