using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>
/// The device's A/B test, if one runs: the request path asks which arm a request goes to and records outcomes, the
/// rollout controller begins and ends tests, the status reads the report (of the running test, else the last one).
/// </summary>
internal sealed class ExperimentArms
{
    private readonly object _gate = new();
    private ExperimentSession? _session;
    private ExperimentReport? _last;

    public bool Runs(string rolloutId, ulong versionB)
    {
        lock (_gate) return _session is { } s && s.RolloutId == rolloutId && s.B.Version == versionB;
    }

    /// <summary>A newer revision of the running test's plan moved the split (a bandit's step).</summary>
    public void Resplit(double split)
    {
        lock (_gate)
        {
            if (_session is { } s) s.Split = split;
        }
    }

    public void Begin(ExperimentSession session)
    {
        ExperimentSession? previous;
        lock (_gate)
        {
            previous = _session;
            _session = session;
            _last = previous?.Report() ?? _last;
        }

        previous?.Exit();
    }

    public void End()
    {
        ExperimentSession? session;
        lock (_gate)
        {
            session = _session;
            _session = null;
            _last = session?.Report() ?? _last;
        }

        session?.Exit();
    }

    /// <summary>The running test when this request, served by <paramref name="servedVersion"/>, goes to arm B; else null.</summary>
    public ExperimentSession? ArmB(ulong servedVersion, string requestId)
    {
        var session = Volatile.Read(ref _session);
        return session is not null && session.A.Version == servedVersion && session.ToB(requestId) ? session : null;
    }

    /// <summary>The running test if it compares against <paramref name="servedVersion"/>.</summary>
    public ExperimentSession? For(ulong servedVersion) => Volatile.Read(ref _session) is { } s && s.A.Version == servedVersion ? s : null;

    /// <summary>Ground truth for request <paramref name="requestId"/>: counted in the arm that answered it, if the test did.</summary>
    public void Outcome(string requestId, long truth, long predicted) => Volatile.Read(ref _session)?.Outcome(requestId, truth, predicted);

    /// <summary>A regressor's or multi-label classifier's target for a request of the test: the answering version's squared error, counted in its arm.</summary>
    public void OutcomeError(string requestId, double squaredError) => Volatile.Read(ref _session)?.OutcomeError(requestId, squaredError);

    public ExperimentReport? Report()
    {
        lock (_gate) return _session?.Report() ?? _last;
    }
}
