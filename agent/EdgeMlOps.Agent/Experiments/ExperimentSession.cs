using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Agent.Experiments;

/// <summary>
/// One A/B test on the device: the target's session loaded beside the served version, the split of requests by a
/// stable hash of their id (or, randomised by device, of this device's id: all its requests in one arm), and both
/// arms' counts. Requests in arm B hold the session while they run (entered), so ending the test never disposes a
/// session a request still uses. A device randomised into arm A keeps the target loaded: a bandit's next split may
/// move it to B.
/// </summary>
internal sealed class ExperimentSession(string rolloutId, ulong versionA, ulong versionB, double split, SharedCache<InferenceModel>.Lease target, string? randomisedDevice = null)
{
    private int _users = 1;
    private double _split = split;

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

    /// <summary>Ground truth <paramref name="truth"/> for a request <paramref name="version"/> answered with <paramref name="predicted"/>.</summary>
    public void Outcome(ulong version, long truth, long predicted)
    {
        if (version == B.Version) B.Labelled(truth, predicted);
        else if (version == A.Version) A.Labelled(truth, predicted);
    }

    /// <summary>A target for a request <paramref name="version"/> answered, as that version's squared error on it.</summary>
    public void OutcomeError(ulong version, double squaredError)
    {
        if (version == B.Version) B.LabelledError(squaredError);
        else if (version == A.Version) A.LabelledError(squaredError);
    }

    public ExperimentReport Report() => new() { RolloutId = RolloutId, A = A.Counts(), B = B.Counts() };
}
