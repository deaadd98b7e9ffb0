using System.Diagnostics;
using EdgeMlOps.Agent.Experiments;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// Which version answers one call of a streaming model's session, A/B tests included: a session belongs to one arm
/// (the split hashes the session id, not the call's), so each arm's version carries its own state from the session's
/// first call on. In arm B the rollout's target answers from its state of the session when it takes the same rows and
/// carries state; when it cannot (another layout, a failed run) the served version answers — from zeros, since the
/// session's state was B's. A bandit moving the split may move a session between arms: its next call starts from zeros.
/// </summary>
internal static class SessionArms
{
    /// <summary>One answered call: the answer, whether it started from zeros, the version that answered and how long it took, and the A/B test it counts in (null outside one).</summary>
    public readonly record struct Answer<T>(T Batch, bool Reset, ulong Version, TimeSpan Elapsed, ExperimentSession? Test, bool ByB);

    /// <summary>
    /// One call of session <paramref name="sessionId"/> on <paramref name="row"/>: <paramref name="run"/> runs the
    /// answering version on it (its state inputs filled in), <paramref name="states"/> reads an answer's state outputs,
    /// and <paramref name="servedAnswered"/> runs when the served version answered, while the session is still held
    /// (calls are handed on in the order they ran).
    /// </summary>
    public static Answer<T> Call<T>(RecurrentSessions sessions, ExperimentArms arms, ServingHealth health, string sessionId, InstalledModel model, float[] row,
        Func<InferenceModel, T> run, Func<T, IReadOnlyList<float[]>> states, Action<T, bool, TimeSpan> servedAnswered)
    {
        var served = model.Inference.Value;
        var version = model.Announcement.Version;
        var graph = served.Spec.Graph is { States.Count: > 0 } stateful ? stateful : throw new ArgumentException("this model carries no state between calls: leave 'session' out");
        if (arms.ArmB(version, sessionId) is { } test && test.Enter() is { } target)
        {
            try
            {
                if (target.Spec.Graph is { States.Count: > 0 } targetGraph && target.Spec.InputDim == row.Length)
                {
                    var begun = Stopwatch.GetTimestamp();
                    try
                    {
                        var (b, reset) = SessionState.Call(sessions, sessionId, targetGraph, test.B.Version, row, () => run(target), states);
                        return new(b, reset, test.B.Version, Stopwatch.GetElapsedTime(begun), test, ByB: true);
                    }
                    catch (Exception ex) when (AnswerFailure.Is(ex))
                    {
                        // B cannot answer (its front end may refuse what the served version's takes): the served version does, below.
                    }
                }

                test.B.Failed();
            }
            finally
            {
                test.Exit();
            }
        }

        var started = Stopwatch.GetTimestamp();
        var (answer, fromZeros) = SessionState.Call(sessions, sessionId, graph, version, row, () => health.Guard(() => run(served)), states,
            (a, reset) => servedAnswered(a, reset, Stopwatch.GetElapsedTime(started)));
        return new(answer, fromZeros, version, Stopwatch.GetElapsedTime(started), arms.For(version), ByB: false);
    }
}
