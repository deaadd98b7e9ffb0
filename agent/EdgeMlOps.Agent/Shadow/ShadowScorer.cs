using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Shadow;

/// <summary>
/// The device's shadow test, if one runs: the request path offers every served request and every ground truth here
/// (a no-op without a session), the rollout controller begins and ends sessions, the status reads the report — of
/// the running test, or of the last one until the next begins.
/// </summary>
internal sealed class ShadowScorer : IAsyncDisposable
{
    private readonly object _gate = new();
    private ShadowSession? _session;
    private ShadowReport? _last;

    /// <summary>True if a session for this rollout and candidate runs.</summary>
    public bool Runs(string rolloutId, ulong candidate)
    {
        lock (_gate) return _session is { } s && s.RolloutId == rolloutId && s.CandidateVersion == candidate;
    }

    /// <summary>Starts <paramref name="session"/>, ending the one before it.</summary>
    public async Task BeginAsync(ShadowSession session)
    {
        ShadowSession? previous;
        lock (_gate)
        {
            previous = _session;
            _session = session;
            _last = previous?.Report() ?? _last;
        }

        if (previous is not null) await EndSessionAsync(previous).ConfigureAwait(false);
    }

    /// <summary>Ends the running session, if any; its report stays readable.</summary>
    public async Task EndAsync()
    {
        ShadowSession? session;
        lock (_gate)
        {
            session = _session;
            _session = null;
            _last = session?.Report() ?? _last;
        }

        if (session is not null) await EndSessionAsync(session).ConfigureAwait(false);
    }

    /// <summary>A request <paramref name="servedVersion"/> answered; scored in the shadow when a session compares against that version.</summary>
    public void Offer(ulong servedVersion, string predictionId, float[] features, long label, float[] probabilities, TimeSpan elapsed, Serving.SessionCall? stream = null)
    {
        var session = Volatile.Read(ref _session);
        if (session is null || session.IncumbentVersion != servedVersion) return;
        session.Offer(predictionId, features, label, probabilities, elapsed, stream);
    }

    /// <summary>Ground truth for a served request.</summary>
    public void Outcome(string predictionId, long truth) => Volatile.Read(ref _session)?.Outcome(predictionId, truth);

    /// <summary>A regressor's target for a served request.</summary>
    public void OutcomeTarget(string predictionId, float[] target) => Volatile.Read(ref _session)?.OutcomeTarget(predictionId, target);

    /// <summary>The running session's report, else the last one's, else null.</summary>
    public ShadowReport? Report()
    {
        lock (_gate) return _session?.Report() ?? _last;
    }

    public ValueTask DisposeAsync() => new(EndAsync());

    private async Task EndSessionAsync(ShadowSession session)
    {
        await session.DisposeAsync().ConfigureAwait(false);
        lock (_gate) _last = session.Report();
    }
}
