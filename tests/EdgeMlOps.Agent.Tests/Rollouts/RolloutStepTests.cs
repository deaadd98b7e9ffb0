using EdgeMlOps.Agent.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Rollouts;

/// <summary>The device's rollout decision on its own: no broker, no files, no sessions.</summary>
public class RolloutStepTests
{
    private static RolloutPlan Plan(RolloutState state = RolloutState.Active) => new() { RolloutId = "r1", ModelName = "mnist", State = state };

    [Fact]
    public void TargetedDevice_BehindTheTarget_InstallsOnTrial() =>
        Assert.Equal(new RolloutStep(RolloutAction.Install), RolloutStep.Decide(Plan(), 5, "mnist", 4, null, targeted: true));

    [Fact]
    public void TargetedDevice_WithNoModelYet_InstallsOnTrial() =>
        Assert.Equal(RolloutAction.Install, RolloutStep.Decide(Plan(), 5, null, null, null, targeted: true).Action);

    [Fact]
    public void AnotherModelsPlan_IsIgnored() =>
        Assert.Equal(new RolloutStep(RolloutAction.None), RolloutStep.Decide(Plan(), 5, "keywords", 4, null, targeted: true));

    [Theory]
    [InlineData(RolloutPhase.Failed)]
    [InlineData(RolloutPhase.RolledBack)]
    public void ATargetThatFailedHere_IsNotRetriedWithinTheRollout(RolloutPhase previous) =>
        Assert.Equal(new RolloutStep(RolloutAction.None), RolloutStep.Decide(Plan(), 5, "mnist", 4, previous, targeted: true));

    [Fact]
    public void AlreadyOnTheTarget_FirstPlan_IsMarkedHealthyWithoutInstalling()
    {
        var step = RolloutStep.Decide(Plan(), 5, "mnist", 5, null, targeted: true);
        Assert.Equal(RolloutAction.None, step.Action);
        Assert.Equal(RolloutPhase.Healthy, step.Mark);
        Assert.Equal("already on the target version", step.Reason);
        Assert.Null(RolloutStep.Decide(Plan(), 5, "mnist", 5, RolloutPhase.Trial, targeted: true).Mark); // a later revision changes nothing
    }

    [Fact]
    public void AbortedPlan_OnTheTarget_RevertsWithTheDirectiveAsReason()
    {
        var step = RolloutStep.Decide(Plan(RolloutState.Aborted), 5, "mnist", 5, RolloutPhase.Trial, targeted: true);
        Assert.Equal(RolloutAction.Revert, step.Action);
        Assert.Equal(RolloutStep.AbortReason, step.Reason);
    }

    [Fact]
    public void AbortedPlan_OffTheTarget_CatchesUpAndIsMarkedNotTargetedOnlyTheFirstTime()
    {
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp, RolloutPhase.NotTargeted), RolloutStep.Decide(Plan(RolloutState.Aborted), 5, "mnist", 3, null, targeted: false));
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp), RolloutStep.Decide(Plan(RolloutState.Aborted), 5, "mnist", 3, RolloutPhase.RolledBack, targeted: true));
    }

    [Fact]
    public void NotTargeted_CatchesUpToTheDeployedVersion_KeepingAFailureOnRecord()
    {
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp, RolloutPhase.NotTargeted), RolloutStep.Decide(Plan(), 5, "mnist", 3, null, targeted: false));
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp), RolloutStep.Decide(Plan(), 5, "mnist", 3, RolloutPhase.Failed, targeted: false));
        Assert.Equal(new RolloutStep(RolloutAction.None), RolloutStep.Decide(Plan(), 5, "mnist", 5, null, targeted: false));
    }

    [Fact]
    public void ShadowPlan_ShadowingDevice_ShadowsWithoutInstalling()
    {
        Assert.Equal(new RolloutStep(RolloutAction.Shadow), RolloutStep.Decide(Plan(RolloutState.Shadow), 5, "mnist", 4, null, targeted: false, beside: true));
        Assert.Equal(new RolloutStep(RolloutAction.Shadow), RolloutStep.Decide(Plan(RolloutState.Shadow), 5, "mnist", 4, RolloutPhase.Shadowing, targeted: false, beside: true)); // after a restart: again
    }

    [Fact]
    public void ShadowPlan_ACandidateThatFailedToLoadHere_IsNotShadowedAgain() =>
        Assert.Equal(new RolloutStep(RolloutAction.None), RolloutStep.Decide(Plan(RolloutState.Shadow), 5, "mnist", 4, RolloutPhase.Failed, targeted: false, beside: true));

    [Fact]
    public void ShadowPlan_NothingServedYet_CatchesUpFirst_AndOutsideTheShare_IsNotTargeted()
    {
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp), RolloutStep.Decide(Plan(RolloutState.Shadow), 5, null, null, null, targeted: false, beside: true));
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp, RolloutPhase.NotTargeted), RolloutStep.Decide(Plan(RolloutState.Shadow), 5, "mnist", 4, null, targeted: false, beside: false));
    }

    [Fact]
    public void AbortedDuringTheShadow_IsMarkedNotTargetedWithTheReason()
    {
        var step = RolloutStep.Decide(Plan(RolloutState.Aborted), 5, "mnist", 4, RolloutPhase.Shadowing, targeted: false);
        Assert.Equal(RolloutAction.CatchUp, step.Action);
        Assert.Equal(RolloutPhase.NotTargeted, step.Mark);
        Assert.Contains("never served", step.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ExperimentPlan_ADeviceInTheTest_RunsTheTargetBeside_AndAnAbortSaysRequestsGoBack()
    {
        Assert.Equal(new RolloutStep(RolloutAction.Experiment), RolloutStep.Decide(Plan(RolloutState.Experiment), 5, "mnist", 4, null, targeted: false, beside: true));
        Assert.Equal(new RolloutStep(RolloutAction.CatchUp, RolloutPhase.NotTargeted), RolloutStep.Decide(Plan(RolloutState.Experiment), 5, "mnist", 4, null, targeted: false, beside: false));
        var aborted = RolloutStep.Decide(Plan(RolloutState.Aborted), 5, "mnist", 4, RolloutPhase.Experimenting, targeted: false);
        Assert.Equal(RolloutPhase.NotTargeted, aborted.Mark);
        Assert.Contains("A/B test", aborted.Reason, StringComparison.Ordinal);
    }
}
