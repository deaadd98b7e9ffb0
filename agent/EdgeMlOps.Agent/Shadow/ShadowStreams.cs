using EdgeMlOps.Agent.Serving;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Shadow;

/// <summary>
/// A shadow test of a streaming model: the candidate carries its own state through each session, so it is scored on
/// whole chains of a session's calls, in the order they ran, from the call that started the session. The request path
/// admits a call (<see cref="Admit"/>) only while its session's chain is intact — sampled at the session's first call
/// (a session is scored whole or not at all), each call since admitted; a call refused for the CPU budget or a full
/// queue breaks the chain, and so does a session the test joined midway: their later calls are skipped as
/// <see cref="ShadowSkip.State"/> until the session starts again. The worker runs each admitted call from the
/// candidate's state of the session (<see cref="Run{T}"/>), which its state outputs then replace.
/// </summary>
internal sealed class ShadowStreams(GraphInterface candidate, ulong candidateVersion, double sampleRate, TimeProvider time)
{
    /// <summary>Sessions whose chain is remembered; beyond this the others are forgotten (their later calls skipped until they start again).</summary>
    public const int MaxChains = 4 * RecurrentSessions.MaxSessions;

    private readonly Dictionary<string, ShadowSkip> _chains = new(StringComparer.Ordinal); // session → None (intact), Sample (sampled out) or State (broken)
    private readonly RecurrentSessions _states = new(time);

    /// <summary>
    /// Whether a call the incumbent answered may be queued (<see cref="ShadowSkip.None"/>) or why not;
    /// <paramref name="capacity"/> asks the budget and the queue for a place, and is asked only for a call of an intact chain.
    /// </summary>
    public ShadowSkip Admit(SessionCall call, Func<ShadowSkip> capacity)
    {
        lock (_chains)
        {
            if (!call.Reset)
            {
                var chain = _chains.GetValueOrDefault(call.SessionId, ShadowSkip.State); // unknown: joined midway, or forgotten
                if (chain != ShadowSkip.None) return chain;
            }
            else if (sampleRate < 1 && Random.Shared.NextDouble() >= sampleRate)
            {
                Remember(call.SessionId, ShadowSkip.Sample);
                return ShadowSkip.Sample;
            }

            var skip = capacity();
            Remember(call.SessionId, skip == ShadowSkip.None ? ShadowSkip.None : ShadowSkip.State);
            return skip;
        }
    }

    /// <summary>
    /// The candidate's answer to an admitted call, run by <paramref name="run"/> on a copy of <paramref name="row"/>
    /// holding the candidate's state of the session (zeros for the session's first call); null when that state is gone
    /// (the session idle too long or evicted, or a call of its chain failed) — the chain is then broken.
    /// </summary>
    public T? Run<T>(SessionCall call, float[] row, Func<float[], T> run, Func<T, IReadOnlyList<float[]>> states)
        where T : class
    {
        var session = _states.Enter(call.SessionId);
        lock (session)
        {
            if (!call.Reset && (session.Version != candidateVersion || session.State.Count != candidate.States.Count))
            {
                Break(call.SessionId);
                return null;
            }

            var copy = (float[])row.Clone(); // the incumbent's row keeps the incumbent's state
            try
            {
                return SessionState.Continue(session, candidate.StateSpans(copy.Length), candidateVersion, copy, call.Reset, () => run(copy), states).Answer; // the states trail a row of any length
            }
            catch
            {
                session.State = [];
                Break(call.SessionId);
                throw;
            }
        }
    }

    private void Break(string sessionId)
    {
        lock (_chains)
        {
            if (_chains.ContainsKey(sessionId)) _chains[sessionId] = ShadowSkip.State; // a forgotten chain is not intact either
        }
    }

    private void Remember(string sessionId, ShadowSkip chain)
    {
        if (_chains.Count >= MaxChains && !_chains.ContainsKey(sessionId))
        {
            foreach (var done in _chains.Where(p => p.Value != ShadowSkip.None).Select(p => p.Key).ToList()) _chains.Remove(done);
            if (_chains.Count >= MaxChains) _chains.Remove(_chains.Keys.First()); // a forgotten chain's later calls are skipped
        }

        _chains[sessionId] = chain;
    }
}
