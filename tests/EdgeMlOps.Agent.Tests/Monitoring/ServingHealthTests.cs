using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Monitoring;

public class ServingHealthTests
{
    [Fact]
    public void ErrorRateAboveThePolicy_FailsTheVersion_UntilANewVersionResetsIt()
    {
        var health = new ServingHealth();
        for (var i = 0; i < 8; i++) health.RecordPrediction(TimeSpan.FromMilliseconds(1));
        health.RecordError();
        health.RecordError();
        var policy = new HealthPolicy { MaxErrorRate = 0.1 };
        Assert.Equal(10, health.VersionAttempts);
        Assert.Contains("inference errors 2 of 10", health.Problem(policy));
        Assert.Null(health.Problem(new HealthPolicy { MaxErrorRate = 0.25 }));

        health.ResetVersion();
        Assert.Equal(0, health.VersionAttempts);
        Assert.Null(health.Problem(policy));
        Assert.Equal(8, health.Latency.Count); // the lifetime histogram is kept across versions
    }

    [Fact]
    public void P95LatencyOverTheBudget_FailsTheVersion()
    {
        var health = new ServingHealth();
        for (var i = 0; i < 100; i++) health.RecordPrediction(TimeSpan.FromMilliseconds(i < 90 ? 1 : 50));
        Assert.Contains("p95 latency", health.Problem(new HealthPolicy { MaxErrorRate = 1, LatencyBudgetP95Ms = 10 }));
        Assert.Null(health.Problem(new HealthPolicy { MaxErrorRate = 1, LatencyBudgetP95Ms = 100 }));
        Assert.Null(health.Problem(new HealthPolicy { MaxErrorRate = 1 })); // no budget
    }

    [Fact]
    public void Feedback_CountsGroundTruthAccuracyOfTheServedVersion()
    {
        var health = new ServingHealth();
        health.RecordFeedback(correct: true);
        health.RecordFeedback(correct: false);
        health.RecordFeedback(correct: true);
        Assert.Equal((3L, 2L), (health.Feedback.Count, health.Feedback.Correct));
        health.ResetVersion();
        Assert.Equal((0L, 0L), (health.Feedback.Count, health.Feedback.Correct));
    }

    [Fact]
    public void TargetFeedback_SumsTheServedVersionsSquaredErrors_AndTheirSquares_UntilTheNextSwitch()
    {
        var health = new ServingHealth();
        health.RecordTargetFeedback(0.25);
        health.RecordTargetFeedback(4);
        Assert.Equal(2, health.Feedback.Count);
        Assert.Equal(0, health.Feedback.Correct); // class hits are not counted for values
        Assert.Equal((2L, 4.25, 16.0625), (health.Feedback.Count, health.Feedback.SquaredErrorSum, health.Feedback.SquaredErrorSquares));
        health.ResetVersion();
        Assert.Equal((0L, 0.0, 0.0), (health.Feedback.Count, health.Feedback.SquaredErrorSum, health.Feedback.SquaredErrorSquares));
    }

    [Fact]
    public void FeedbackFigures_NameTheVersionTheyWereCountedFor_SoAStatusMidSwitchCarriesNoneOfTheReplacedVersionsLabels()
    {
        var health = new ServingHealth();
        health.ResetVersion(2);
        for (var i = 0; i < 60; i++) health.RecordTargetFeedback(0.25);
        Assert.Equal(new FeedbackFigures(2, 60, 0, 15, 3.75), health.Feedback);

        // The slots already serve v4; the switch's reset has not run yet: v2's 60 labels are not v4's.
        Assert.Equal(new FeedbackFigures(4, 0, 0, 0, 0), health.Feedback.For(4));
        Assert.Equal(60, health.Feedback.For(2).Count);

        health.ResetVersion(4);
        health.RecordFeedback(correct: true);
        Assert.Equal(new FeedbackFigures(4, 1, 1, 0, 0), health.Feedback.For(4));
    }
}
