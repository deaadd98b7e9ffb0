using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Rollouts;

/// <summary>Whether a verified plan is acted on.</summary>
internal enum PlanAdmission
{
    Accepted,

    /// <summary>This revision (or a later one) of the same rollout was already applied, or a newer plan was seen since.</summary>
    Superseded,

    /// <summary>Older than the plan already applied: a replay, refused and reported.</summary>
    Replay,
}

/// <summary>
/// What the device knows about rollouts, under one lock: the plan applied, the newest plan seen (a rollback directive
/// supersedes a plan waiting for the install gate), and the device's progress in the current rollout — kept on disk
/// (<c>rollout.pb</c>) so a target that failed is not retried after a restart.
/// </summary>
internal sealed class RolloutMemory(string path, ILogger logger)
{
    private readonly object _gate = new();
    private RolloutPlan? _applied;
    private RolloutPlan? _newest;
    private RolloutProgress? _progress;

    /// <summary>The device's part in the current rollout (a copy; null before any plan applied to it).</summary>
    public RolloutProgress? Progress
    {
        get { lock (_gate) return _progress?.Clone(); }
    }

    /// <summary>Reads the progress saved before a restart (an unreadable file is ignored).</summary>
    public void Load()
    {
        try
        {
            var progress = File.Exists(path) ? RolloutProgress.Parser.ParseFrom(File.ReadAllBytes(path)) : null;
            lock (_gate) _progress = progress;
        }
        catch (Exception ex) when (ex is IOException or InvalidProtocolBufferException)
        {
            lock (_gate) _progress = null;
        }
    }

    /// <summary>Records a verified plan as the newest seen unless an applied or seen plan is newer; true when it is the newest (not a replay).</summary>
    public bool Note(RolloutPlan plan)
    {
        lock (_gate)
        {
            if (plan.IssuedUnixMs < (_progress?.PlanIssuedUnixMs ?? 0) || Newer(_newest, plan)) return false;
            _newest = plan;
            return true;
        }
    }

    /// <summary>Takes <paramref name="plan"/> as the one applied if nothing newer was applied or seen; <paramref name="previous"/> is the device's progress in that rollout so far.</summary>
    public PlanAdmission Admit(RolloutPlan plan, out RolloutProgress? previous)
    {
        previous = null;
        lock (_gate)
        {
            if (_applied is { } held && held.RolloutId == plan.RolloutId && plan.Revision <= held.Revision) return PlanAdmission.Superseded;

            // A validly signed but older plan (say, an old abort replayed after the version was rolled out again) is not obeyed.
            if (plan.IssuedUnixMs < (_progress?.PlanIssuedUnixMs ?? 0)) return PlanAdmission.Replay;

            // A plan is the rollout's whole state: one that a newer plan replaced while it waited for the gate is skipped.
            if (Newer(_newest, plan)) return PlanAdmission.Superseded;
            _applied = plan;
            previous = _progress is { } p && p.RolloutId == plan.RolloutId ? p : null;
            return PlanAdmission.Accepted;
        }
    }

    /// <summary>Records the device's phase in <paramref name="plan"/> (and saves it); false when nothing changed.</summary>
    public bool Set(RolloutPlan plan, RolloutPhase phase, string reason, ulong target)
    {
        var progress = new RolloutProgress { RolloutId = plan.RolloutId, Revision = plan.Revision, Phase = phase, Reason = reason, TargetVersion = target, PlanIssuedUnixMs = plan.IssuedUnixMs };
        lock (_gate)
        {
            if (_progress is { } old && old.RolloutId == progress.RolloutId && old.Phase == phase && old.Reason == reason && old.PlanIssuedUnixMs == progress.PlanIssuedUnixMs) return false;
            _progress = progress;
        }

        Save(progress);
        return true;
    }

    /// <summary>A trial of the rollout's target was rolled back at start: the progress says so.</summary>
    public void MarkRolledBack(ulong version, string reason)
    {
        lock (_gate)
        {
            if (_progress is { } p && p.TargetVersion == version) _progress = new RolloutProgress(p) { Phase = RolloutPhase.RolledBack, Reason = reason };
        }
    }

    private void Save(RolloutProgress progress)
    {
        try
        {
            Runtime.Storage.AtomicFile.Write(path, progress.ToByteArray(), durable: false);
        }
        catch (IOException ex)
        {
            logger.PublishFailed("rollout state", ex.Message);
        }
    }

    private static bool Newer(RolloutPlan? candidate, RolloutPlan than) =>
        candidate is not null && (candidate.IssuedUnixMs > than.IssuedUnixMs || (candidate.RolloutId == than.RolloutId && candidate.Revision > than.Revision));
}
