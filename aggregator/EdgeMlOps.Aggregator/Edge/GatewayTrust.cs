using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// What a gateway verifies against the fleet's trust root before it acts: the trust bundle (relayed down as it is), each
/// task of its site's devices, and the fleet's signed list of revoked devices — followed in the order it was issued (an
/// older list is ignored) and, when it arrives before the bundle that certifies its key, kept until that bundle comes.
/// <paramref name="revoking"/> hears of revoked devices first (the gateway's own rounds), <see cref="DevicesRevoked"/> then.
/// </summary>
public sealed class GatewayTrust(string fleet, byte[] rootPublicKey, Action<IReadOnlyList<string>>? revoking = null)
{
    private readonly TrustVerifier _verifier = new(fleet, [rootPublicKey]);
    private readonly Lock _gate = new();
    private Signed? _waiting;
    private long _lastIssued = long.MinValue;

    /// <summary>Called with every device a verified list newer than the last one names.</summary>
    public Action<IReadOnlyList<string>>? DevicesRevoked { get; set; }

    /// <summary>Accepts a newer trust bundle; a revocation list that waited for it is verified now.</summary>
    public Verified<TrustBundle> AcceptBundle(Signed bundle, long nowUnixMs)
    {
        var accepted = _verifier.AcceptBundle(bundle);
        if (!accepted.Ok) return accepted;
        Signed? waiting;
        lock (_gate) (waiting, _waiting) = (_waiting, null);
        if (waiting is not null) OfferRevocations(waiting, nowUnixMs);
        return accepted;
    }

    /// <summary>A task read on <paramref name="deviceId"/>'s task topic: verified, and for that device (a signed task copied onto another device's topic is refused).</summary>
    public Verified<RoundTask> VerifyTaskFor(string deviceId, Signed task, long nowUnixMs)
    {
        var verified = _verifier.VerifyTask(task, nowUnixMs);
        return !verified.Ok || verified.Value!.DeviceId == deviceId
            ? verified
            : Verified<RoundTask>.Refuse(TrustFailure.Malformed, $"a task for '{verified.Value.DeviceId}' on device '{deviceId}''s topic");
    }

    /// <summary>Verifies the fleet's catalogue of model lines (signed by a rollout key the bundle certifies, for this fleet).</summary>
    public Verified<ModelCatalogue> VerifyCatalogue(Signed catalogue, long nowUnixMs) => _verifier.VerifyCatalogue(catalogue, nowUnixMs);

    /// <summary>Verifies a revocation list and passes its devices on if it is newer than the last; returns why it was refused, or null.</summary>
    public string? OfferRevocations(Signed list, long nowUnixMs)
    {
        var verified = _verifier.VerifyRevocations(list, nowUnixMs);
        lock (_gate)
        {
            if (!verified.Ok)
            {
                if (verified.Failure != TrustFailure.UnknownKey) return verified.Reason;
                _waiting = list; // its key may be certified by a bundle still on its way
                return null;
            }

            if (verified.Value!.IssuedUnixMs <= _lastIssued) return null; // older than the list in force: nothing new
            _lastIssued = verified.Value.IssuedUnixMs;
        }

        revoking?.Invoke(verified.Value.DeviceIds);
        DevicesRevoked?.Invoke(verified.Value.DeviceIds);
        return null;
    }
}
