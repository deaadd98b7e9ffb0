using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// The state a recurrent model carries between calls, per caller session (a microphone stream, a vehicle's trip):
/// the state outputs of one call are the state inputs of the session's next. Bounded — at most
/// <see cref="MaxSessions"/> (the least recently used goes first) and none idle longer than <see cref="IdleTimeout"/>
/// — and tied to the version that made it: a state from another version starts again from zeros.
/// </summary>
internal sealed class RecurrentSessions(TimeProvider time)
{
    public const int MaxSessions = 1024;

    public const int MaxSessionIdLength = 128;

    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private DateTimeOffset _lastSweep;

    /// <summary>Sessions dropped to stay within <see cref="MaxSessions"/> or after <see cref="IdleTimeout"/>.</summary>
    public long Evicted { get; private set; }

    public int Count
    {
        get
        {
            lock (_sessions) return _sessions.Count;
        }
    }

    /// <summary>The session <paramref name="id"/> (new if unknown or evicted); the caller locks it while it runs.</summary>
    public Session Enter(string id)
    {
        lock (_sessions)
        {
            var now = time.GetUtcNow();
            if (now - _lastSweep >= TimeSpan.FromMinutes(1))
            {
                // Once a minute, not per call: a session is dropped at most a minute after its idle timeout.
                _lastSweep = now;
                foreach (var idle in _sessions.Where(p => now - p.Value.LastUsed > IdleTimeout).Select(p => p.Key).ToList())
                {
                    _sessions.Remove(idle);
                    Evicted++;
                }
            }

            if (_sessions.TryGetValue(id, out var known) && now - known.LastUsed > IdleTimeout)
            {
                _sessions.Remove(id); // idle too long: starts again from zeros, as if swept
                Evicted++;
            }

            if (!_sessions.TryGetValue(id, out var session))
            {
                if (_sessions.Count >= MaxSessions)
                {
                    _sessions.Remove(_sessions.MinBy(p => p.Value.LastUsed).Key);
                    Evicted++;
                }

                _sessions[id] = session = new Session();
            }

            session.LastUsed = now;
            return session;
        }
    }

    /// <summary>Forgets every session (local data erased).</summary>
    public void Clear()
    {
        lock (_sessions) _sessions.Clear();
    }

    /// <summary>One caller's state: the state tensors by input name, the windows of its streamed inputs, and the version that made them.</summary>
    internal sealed class Session
    {
        public DateTimeOffset LastUsed { get; set; }

        public ulong Version { get; set; }

        public IReadOnlyList<NamedTensor> State { get; set; } = [];

        /// <summary>The windows of streamed inputs, by input name (<see cref="Shared.Models.InputWindow"/>).</summary>
        public Dictionary<string, StreamWindow> Windows { get; } = new(StringComparer.Ordinal);
    }
}
