using EdgeMlOps.Agent.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Rollouts;

public sealed class RolloutMemoryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("edgemlops-rollout-").FullName;

    private string StatePath => Path.Combine(_dir, "rollout.pb");

    private static RolloutPlan Plan(string id, ulong revision, long issued, RolloutState state = RolloutState.Active) =>
        new() { RolloutId = id, Revision = revision, IssuedUnixMs = issued, ModelName = "mnist", State = state };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ARevisionAlreadyApplied_IsSuperseded_ANewerOneIsAccepted()
    {
        var memory = new RolloutMemory(StatePath, NullLogger.Instance);
        Assert.Equal(PlanAdmission.Accepted, memory.Admit(Plan("r1", 2, 100), out _));
        Assert.Equal(PlanAdmission.Superseded, memory.Admit(Plan("r1", 2, 100), out _));
        Assert.Equal(PlanAdmission.Superseded, memory.Admit(Plan("r1", 1, 90), out _));
        Assert.Equal(PlanAdmission.Accepted, memory.Admit(Plan("r1", 3, 110), out _));
    }

    [Fact]
    public void APlanWaitingForTheGate_IsSupersededByANewerPlanSeenMeanwhile()
    {
        var memory = new RolloutMemory(StatePath, NullLogger.Instance);
        var waiting = Plan("r1", 2, 100);
        Assert.True(memory.Note(waiting));
        Assert.True(memory.Note(Plan("r1", 3, 120, RolloutState.Aborted))); // the rollback directive arrives while v2's plan waits
        Assert.False(memory.Note(waiting));
        Assert.Equal(PlanAdmission.Superseded, memory.Admit(waiting, out _));
    }

    [Fact]
    public void AnOlderPlanThanTheProgressOnDisk_IsAReplay_AfterARestartToo()
    {
        var memory = new RolloutMemory(StatePath, NullLogger.Instance);
        var plan = Plan("r2", 1, 500);
        Assert.Equal(PlanAdmission.Accepted, memory.Admit(plan, out var previous));
        Assert.Null(previous);
        Assert.True(memory.Set(plan, RolloutPhase.Failed, "could not load", 7));
        Assert.False(memory.Set(plan, RolloutPhase.Failed, "could not load", 7)); // nothing changed: no status, no write

        var restarted = new RolloutMemory(StatePath, NullLogger.Instance);
        restarted.Load();
        Assert.Equal(RolloutPhase.Failed, restarted.Progress!.Phase);
        Assert.Equal(PlanAdmission.Replay, restarted.Admit(Plan("r1", 9, 400, RolloutState.Aborted), out _));
        Assert.Equal(PlanAdmission.Accepted, restarted.Admit(Plan("r2", 2, 600), out previous));
        Assert.Equal(RolloutPhase.Failed, previous!.Phase); // so the failed target is not retried
    }

    [Fact]
    public void AnUnreadableStateFile_IsIgnored()
    {
        File.WriteAllBytes(StatePath, [0xff, 0xff, 0xff]);
        var memory = new RolloutMemory(StatePath, NullLogger.Instance);
        memory.Load();
        Assert.Null(memory.Progress);
    }

    [Fact]
    public void ATrialRolledBackAtStart_IsRecordedForItsTargetOnly()
    {
        var memory = new RolloutMemory(StatePath, NullLogger.Instance);
        memory.Set(Plan("r1", 1, 100), RolloutPhase.Trial, string.Empty, 8);
        memory.MarkRolledBack(7, "other version");
        Assert.Equal(RolloutPhase.Trial, memory.Progress!.Phase);
        memory.MarkRolledBack(8, "v8 did not finish its health window");
        Assert.Equal(RolloutPhase.RolledBack, memory.Progress!.Phase);
        Assert.Equal("v8 did not finish its health window", memory.Progress!.Reason);
    }
}
