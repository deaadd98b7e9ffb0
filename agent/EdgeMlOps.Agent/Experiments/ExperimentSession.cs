using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>
/// One A/B test on the device: the target's session loaded beside the served version, the split of requests by a
/// stable hash of their id (or, randomised by device, of this device's id: all its requests in one arm), and both
/// arms' counts. Requests in arm B hold the session while they run (entered), so ending the test never disposes a
/// session a request still uses. A device randomised into arm A keeps the target loaded: a bandit's next split may
/// move it to B. Ground truth counts only for requests this test answered (remembered by id, the newest
/// <see cref="MaxAwaitingLabels"/>): a label for a request served before the test began belongs to no arm.
/// </summary>
internal sealed class ExperimentSession(string rolloutId, ulong versionA, ulong versionB, double split, SharedCache<InferenceModel>.Lease target, string? randomisedDevice = null)
{
    private int _users = 1;
    private double _split = split;
    private readonly Lock _awaitingGate = new();
    private readonly Dictionary<string, bool> _awaiting = new(StringComparer.Ordinal); // request id → answered by B
    private readonly Queue<string> _awaitingOrder = new();

    /// <summary>Requests of this test remembered for their ground truth; a label arriving after this many newer requests is not counted.</summary>
    public const int MaxAwaitingLabels = 16_384;

    /// <summary>The share of requests going to B now (a bandit moves it with each plan revision).</summary>
    public double Split
    {
        get => Volatile.Read(ref _split);
        set => Volatile.Write(ref _split, value);
    }

    public string RolloutId { get; } = rolloutId;

    public ArmStats A { get; } = new(versionA);

    public ArmStats B { get; } = new(versionB);

    /// <summary>True if this request goes to arm B.</summary>
    public bool ToB(string requestId) => randomisedDevice is { } device
        ? RolloutMembership.DeviceInArmB(RolloutId, device, Split)
        : RolloutMembership.ToArmB(RolloutId, requestId, Split);

    /// <summary>The target's session for one request (call <see cref="Exit"/> after), or null once the test ended.</summary>
    public InferenceModel? Enter()
    {
        while (true)
        {
            var users = Volatile.Read(ref _users);
            if (users == 0) return null;
            if (Interlocked.CompareExchange(ref _users, users + 1, users) == users) return target.Value;
        }
    }

    public void Exit()
    {
        if (Interlocked.Decrement(ref _users) == 0) target.Dispose();
    }

    /// <summary>A request of this test answered by arm B (<paramref name="byB"/>) or A: counted in that arm and remembered for its ground truth.</summary>
    public void Answered(string requestId, bool byB, TimeSpan elapsed, long predicted)
    {
        (byB ? B : A).Served(elapsed, predicted);
        lock (_awaitingGate)
        {
            if (!_awaiting.TryAdd(requestId, byB)) return;
            _awaitingOrder.Enqueue(requestId);
            while (_awaitingOrder.Count > MaxAwaitingLabels) _awaiting.Remove(_awaitingOrder.Dequeue()); // an id labelled already is gone: a no-op
        }
    }

    /// <summary>Ground truth <paramref name="truth"/> for request <paramref name="requestId"/>, answered with <paramref name="predicted"/>: counted once, in the arm that answered it, if this test did.</summary>
    public void Outcome(string requestId, long truth, long predicted) => ArmOf(requestId)?.Labelled(truth, predicted);

    /// <summary>A target for request <paramref name="requestId"/>, as the answering version's squared error on it: counted as <see cref="Outcome"/> is.</summary>
    public void OutcomeError(string requestId, double squaredError) => ArmOf(requestId)?.LabelledError(squaredError);

    /// <summary>The arm that answered <paramref name="requestId"/> in this test (forgotten now: a label counts once), or null.</summary>
    private ArmStats? ArmOf(string requestId)
    {
        lock (_awaitingGate) return _awaiting.Remove(requestId, out var byB) ? (byB ? B : A) : null;
    }

    public ExperimentReport Report() => new() { RolloutId = RolloutId, A = A.Counts(), B = B.Counts() };
}
