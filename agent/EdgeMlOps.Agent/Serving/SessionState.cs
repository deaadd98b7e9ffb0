using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// The state a streaming classifier or regressor carries between the calls of one session (<see cref="GraphInterface.States"/>),
/// kept in the session's row: before a call the session's last state outputs are written into the row's state inputs
/// — zeros for a new session, one idle too long or evicted, or one whose state another version made — and after it
/// the call's state outputs become the session's state. The row the prediction is recorded with therefore holds the
/// state its call started from, which is what a train step on it starts from.
/// </summary>
internal static class SessionState
{
    /// <summary>
    /// One call of session <paramref name="sessionId"/>, alone in it: the session's state written into
    /// <paramref name="row"/>, <paramref name="call"/> run, the state outputs it made (<paramref name="states"/>) kept.
    /// <paramref name="answered"/> runs with the answer, and whether it started from zeros, while the session is still
    /// held, so that whatever it hands on (the shadow test's queue) sees the session's calls in the order they ran.
    /// </summary>
    public static (T Answer, bool Reset) Call<T>(RecurrentSessions sessions, string sessionId, GraphInterface graph, ulong version, float[] row, Func<T> call, Func<T, IReadOnlyList<float[]>> states, Action<T, bool>? answered = null)
    {
        var session = sessions.Enter(sessionId);
        lock (session)
        {
            var (answer, reset) = Continue(session, graph.StateSpans(row.Length), version, row, restart: false, call, states);
            answered?.Invoke(answer, reset);
            return (answer, reset);
        }
    }

    /// <summary>
    /// One call in <paramref name="session"/> (held locked by the caller): from zeros when <paramref name="restart"/>
    /// or when the session's state is not <paramref name="version"/>'s, else from the session's state.
    /// </summary>
    public static (T Answer, bool Reset) Continue<T>(RecurrentSessions.Session session, IReadOnlyList<GraphInterface.SampleSpan> spans, ulong version, float[] row, bool restart, Func<T> call, Func<T, IReadOnlyList<float[]>> states)
    {
        if (restart) session.State = [];
        var reset = Fill(session, spans, version, row);
        var answer = call();
        Keep(session, spans, version, states(answer));
        return (answer, reset);
    }

    /// <summary>Writes the session's state into <paramref name="row"/>; true when it started from zeros.</summary>
    private static bool Fill(RecurrentSessions.Session session, IReadOnlyList<GraphInterface.SampleSpan> spans, ulong version, float[] row)
    {
        var reset = session.Version != version || session.State.Count != spans.Count;
        for (var k = 0; k < spans.Count; k++)
        {
            var target = row.AsSpan(spans[k].Offset, spans[k].Length);
            if (reset) target.Clear();
            else ((float[])session.State[k].Data).CopyTo(target);
        }

        return reset;
    }

    /// <summary>Keeps one call's state outputs (<see cref="PredictionBatch.States"/> of one row) as the session's state.</summary>
    private static void Keep(RecurrentSessions.Session session, IReadOnlyList<GraphInterface.SampleSpan> spans, ulong version, IReadOnlyList<float[]> states)
    {
        session.Version = version;
        session.State = [.. spans.Select((span, k) => new NamedTensor(span.Name, TensorElement.Float, [1, .. span.Dims], states[k]))];
    }
}
