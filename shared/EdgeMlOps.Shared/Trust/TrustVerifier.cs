using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Trust;

/// <summary>Why a signed message was refused (counted per kind; the text says what exactly).</summary>
public enum TrustFailure
{
    None,
    Malformed,
    WrongType,
    WrongFleet,
    UnknownKey,
    BadSignature,
    RevokedKey,
    ExpiredKey,
    WrongRole,
    StaleBundle,
    Expired,
    Downgrade,
    ArtifactMismatch,

    /// <summary>Issued further ahead of the verifier's clock than a clock may be off (<see cref="TrustVerifier.MaxIssuedAheadMs"/>).</summary>
    IssuedAhead,
}

/// <summary>A verified body, or why it was refused.</summary>
public readonly record struct Verified<T>(T? Value, TrustFailure Failure, string Reason) where T : class
{
    public bool Ok => Failure == TrustFailure.None && Value is not null;

    public static Verified<T> Accept(T value) => new(value, TrustFailure.None, string.Empty);

    public static Verified<T> Refuse(TrustFailure failure, string reason) => new(null, failure, reason);
}

/// <summary>
/// What a device believes (TUF's client side, pure): the pinned root keys, and the newest trust
/// bundle they signed. A bundle is accepted only under a pinned root and never older than the one
/// held (so revocations cannot be undone by replay). Manifests and plans are accepted only when
/// signed by a key the bundle certifies for that role, unrevoked and unexpired.
/// </summary>
public sealed class TrustVerifier
{
    private readonly Dictionary<string, byte[]> _roots;
    private TrustBundle? _bundle;
    private Signed? _bundleEnvelope;

    public TrustVerifier(string fleet, IEnumerable<byte[]> rootPublicKeys)
    {
        Fleet = fleet;
        _roots = rootPublicKeys.ToDictionary(k => Signatures.KeyIdOf(k), k => k, StringComparer.Ordinal);
    }

    public string Fleet { get; }

    public int RootCount => _roots.Count;

    /// <summary>The bundle in force (null until one verified).</summary>
    public TrustBundle? Bundle => _bundle;

    /// <summary>The signed form of <see cref="Bundle"/>, to persist and re-accept after a restart.</summary>
    public Signed? BundleEnvelope => _bundleEnvelope;

    /// <summary>Accepts <paramref name="envelope"/> if a pinned root signed it and it is not older than the bundle held.</summary>
    public Verified<TrustBundle> AcceptBundle(Signed envelope)
    {
        var parsed = Parse(envelope, TrustBundle.Parser);
        if (!parsed.Ok) return parsed;
        var bundle = parsed.Value!;
        if (bundle.Fleet != Fleet) return Verified<TrustBundle>.Refuse(TrustFailure.WrongFleet, $"trust bundle is for fleet '{bundle.Fleet}', device is in '{Fleet}'");
        if (!envelope.Signatures.Any(s => _roots.TryGetValue(s.KeyId, out var root) && Signatures.Verify(root, envelope, s)))
        {
            return envelope.Signatures.Any(s => _roots.ContainsKey(s.KeyId))
                ? Verified<TrustBundle>.Refuse(TrustFailure.BadSignature, "trust bundle signature does not verify under the pinned root")
                : Verified<TrustBundle>.Refuse(TrustFailure.UnknownKey, "trust bundle is not signed by a pinned root key");
        }

        if (_bundle is { } held)
        {
            if (bundle.Version < held.Version) return Verified<TrustBundle>.Refuse(TrustFailure.StaleBundle, $"trust bundle v{bundle.Version} is older than the v{held.Version} held");
            if (bundle.Version == held.Version && !bundle.Equals(held)) return Verified<TrustBundle>.Refuse(TrustFailure.StaleBundle, $"a different trust bundle with the same version v{bundle.Version}");
        }

        _bundle = bundle;
        _bundleEnvelope = envelope;
        return Verified<TrustBundle>.Accept(bundle);
    }

    /// <summary>Verifies a manifest: signature, role, fleet, and (when <paramref name="checkExpiry"/>) its expiry at <paramref name="nowUnixMs"/>.</summary>
    public Verified<ModelManifest> VerifyManifest(Signed envelope, long nowUnixMs, bool checkExpiry = true)
    {
        var verified = VerifySigned(envelope, ModelManifest.Parser, KeyRole.Manifest, nowUnixMs);
        if (!verified.Ok) return verified;
        var manifest = verified.Value!;
        if (manifest.Fleet != Fleet) return Verified<ModelManifest>.Refuse(TrustFailure.WrongFleet, $"manifest is for fleet '{manifest.Fleet}', device is in '{Fleet}'");
        if (checkExpiry && manifest.ExpiresUnixMs <= nowUnixMs)
        {
            return Verified<ModelManifest>.Refuse(TrustFailure.Expired, $"manifest of {manifest.ModelName} v{manifest.Version} expired at {Protocol.WireTime.Describe(manifest.ExpiresUnixMs)}");
        }

        if (manifest.Architecture is null || manifest.Artifacts.Count == 0 || manifest.Artifacts.Any(a => !Hashing.ContentHash.IsSha256Hex(a.Sha256) || a.Size == 0))
        {
            return Verified<ModelManifest>.Refuse(TrustFailure.Malformed, "manifest lacks an architecture or a well-formed artifact list");
        }

        return verified;
    }

    /// <summary>The longest health window a device waits out (a week): its trial must end, by commit or by revert.</summary>
    public const uint MaxHealthWindowSeconds = 604_800;

    /// <summary>
    /// Why a device could not judge a version by <paramref name="policy"/>, or null: a window past
    /// <see cref="MaxHealthWindowSeconds"/>, an error rate outside [0, 1] or a latency budget that is no number of
    /// milliseconds (a NaN limit would never fail a version).
    /// </summary>
    public static string? HealthPolicyProblem(HealthPolicy? policy) => policy switch
    {
        null => null,
        { WindowSeconds: > MaxHealthWindowSeconds } => $"health window of {policy.WindowSeconds} s is past the {MaxHealthWindowSeconds} s a device waits",
        { MaxErrorRate: var rate } when !(rate >= 0 && rate <= 1) => FormattableString.Invariant($"max error rate {rate} is not a share in [0, 1]"),
        { LatencyBudgetP95Ms: var budget } when !(budget >= 0 && double.IsFinite(budget)) => FormattableString.Invariant($"latency budget {budget} ms is not a finite number of milliseconds ≥ 0"),
        _ => null,
    };

    /// <summary>
    /// How far ahead of the verifier's clock a statement ordered by its issue date (a rollout plan, a freshness statement, a
    /// revocation list, a catalogue) may be issued: an hour, the tolerance devices already need for freshness statements
    /// (an hour's lifetime by default). Each is followed only when newer than the one held, so one dated further ahead —
    /// an aggregator whose clock jumped, a standby whose clock runs ahead of the leader's — would outrank every real one
    /// until the clock caught up.
    /// </summary>
    public const long MaxIssuedAheadMs = 3_600_000;

    /// <summary>Why a statement issued at <paramref name="issuedUnixMs"/> is dated too far ahead of <paramref name="nowUnixMs"/>, or null.</summary>
    private static string? IssuedAheadProblem(string what, long issuedUnixMs, long nowUnixMs) =>
        (Int128)issuedUnixMs - nowUnixMs <= MaxIssuedAheadMs ? null
        : $"{what} issued {Protocol.WireTime.Describe(issuedUnixMs)}, over an hour ahead of this clock ({Protocol.WireTime.Describe(nowUnixMs)}): the issuer's clock or this one is wrong";

    /// <summary>Verifies a rollout plan's signature (rollout role) and fleet.</summary>
    public Verified<RolloutPlan> VerifyPlan(Signed envelope, long nowUnixMs)
    {
        var verified = VerifySigned(envelope, RolloutPlan.Parser, KeyRole.Rollout, nowUnixMs);
        if (!verified.Ok) return verified;
        var plan = verified.Value!;
        if (plan.Fleet != Fleet) return Verified<RolloutPlan>.Refuse(TrustFailure.WrongFleet, $"rollout plan is for fleet '{plan.Fleet}', device is in '{Fleet}'");
        if (IssuedAheadProblem("rollout plan", plan.IssuedUnixMs, nowUnixMs) is { } ahead) return Verified<RolloutPlan>.Refuse(TrustFailure.IssuedAhead, ahead);
        if (plan.TargetManifest is null || plan.StageFractions.Count == 0 || plan.Stage >= plan.StageFractions.Count
            || plan.StageFractions.Any(f => !(f > 0 && f <= 1)) || plan.StageFractions.Zip(plan.StageFractions.Skip(1)).Any(p => p.Second < p.First))
        {
            return Verified<RolloutPlan>.Refuse(TrustFailure.Malformed, "rollout plan lacks a target manifest or has invalid stages");
        }

        if (HealthPolicyProblem(plan.Health) is { } problem) return Verified<RolloutPlan>.Refuse(TrustFailure.Malformed, "rollout plan's " + problem);
        return verified;
    }

    /// <summary>Verifies a freshness statement: signed by a timestamp key, for this fleet, not expired at <paramref name="nowUnixMs"/>.</summary>
    public Verified<FreshnessStatement> VerifyFreshness(Signed envelope, long nowUnixMs)
    {
        var verified = VerifySigned(envelope, FreshnessStatement.Parser, KeyRole.Timestamp, nowUnixMs);
        if (!verified.Ok) return verified;
        var statement = verified.Value!;
        if (statement.Fleet != Fleet) return Verified<FreshnessStatement>.Refuse(TrustFailure.WrongFleet, $"freshness statement is for fleet '{statement.Fleet}', device is in '{Fleet}'");
        if (IssuedAheadProblem("freshness statement", statement.IssuedUnixMs, nowUnixMs) is { } ahead) return Verified<FreshnessStatement>.Refuse(TrustFailure.IssuedAhead, ahead);
        if (statement.ExpiresUnixMs <= nowUnixMs)
        {
            return Verified<FreshnessStatement>.Refuse(TrustFailure.Expired, $"freshness statement issued {Protocol.WireTime.Describe(statement.IssuedUnixMs)} expired at {Protocol.WireTime.Describe(statement.ExpiresUnixMs)}");
        }

        if (statement.Statements.Any(d => d.Topic.Length == 0 || !Hashing.ContentHash.IsSha256Hex(d.Sha256)))
        {
            return Verified<FreshnessStatement>.Refuse(TrustFailure.Malformed, "freshness statement names a statement without a topic or a well-formed sha256");
        }

        return verified;
    }

    /// <summary>Verifies the fleet's list of revoked devices: signed by a rollout key, for this fleet, every entry a device id.</summary>
    public Verified<DeviceRevocations> VerifyRevocations(Signed envelope, long nowUnixMs)
    {
        var verified = VerifySigned(envelope, DeviceRevocations.Parser, KeyRole.Rollout, nowUnixMs);
        if (!verified.Ok) return verified;
        var list = verified.Value!;
        if (list.Fleet != Fleet) return Verified<DeviceRevocations>.Refuse(TrustFailure.WrongFleet, $"revocation list is for fleet '{list.Fleet}', this is '{Fleet}'");
        if (IssuedAheadProblem("revocation list", list.IssuedUnixMs, nowUnixMs) is { } ahead) return Verified<DeviceRevocations>.Refuse(TrustFailure.IssuedAhead, ahead);
        if (list.DeviceIds.Any(id => !Protocol.Topics.IsValidSegment(id))) return Verified<DeviceRevocations>.Refuse(TrustFailure.Malformed, "revocation list names something that is not a device id");
        return verified;
    }

    /// <summary>
    /// Verifies the fleet's catalogue of model lines: signed by a rollout key, for this fleet, every line a distinct
    /// topic segment with a plausible memory request.
    /// </summary>
    public Verified<ModelCatalogue> VerifyCatalogue(Signed envelope, long nowUnixMs)
    {
        var verified = VerifySigned(envelope, ModelCatalogue.Parser, KeyRole.Rollout, nowUnixMs);
        if (!verified.Ok) return verified;
        var catalogue = verified.Value!;
        if (catalogue.Fleet != Fleet) return Verified<ModelCatalogue>.Refuse(TrustFailure.WrongFleet, $"model catalogue is for fleet '{catalogue.Fleet}', device is in '{Fleet}'");
        if (IssuedAheadProblem("model catalogue", catalogue.IssuedUnixMs, nowUnixMs) is { } ahead) return Verified<ModelCatalogue>.Refuse(TrustFailure.IssuedAhead, ahead);
        if (catalogue.Lines.Any(l => !Protocol.Topics.IsValidSegment(l.Name)) || catalogue.Lines.Select(l => l.Name).Distinct(StringComparer.Ordinal).Count() != catalogue.Lines.Count)
        {
            return Verified<ModelCatalogue>.Refuse(TrustFailure.Malformed, "model catalogue names a line that is not a topic segment, or one twice");
        }

        return verified;
    }

    /// <summary>
    /// Verifies a round task: signed by a key certified for manifests (the authority over what is trained), for
    /// this fleet. Tasks travel as <c>Signed</c> envelopes, so a forged or altered task is refused however it
    /// reached the device.
    /// </summary>
    public Verified<RoundTask> VerifyTask(Signed envelope, long nowUnixMs)
    {
        var verified = VerifySigned(envelope, RoundTask.Parser, KeyRole.Manifest, nowUnixMs);
        if (!verified.Ok) return verified;
        var task = verified.Value!;
        if (task.Header?.Fleet != Fleet) return Verified<RoundTask>.Refuse(TrustFailure.WrongFleet, $"task is for fleet '{task.Header?.Fleet}', device is in '{Fleet}'");
        return verified;
    }

    private Verified<T> VerifySigned<T>(Signed envelope, MessageParser<T> parser, KeyRole role, long nowUnixMs) where T : class, IMessage<T>, new()
    {
        if (_bundle is not { } bundle) return Verified<T>.Refuse(TrustFailure.UnknownKey, "no trust bundle verified yet");
        var parsed = Parse(envelope, parser);
        if (!parsed.Ok) return parsed;
        Verified<T>? firstProblem = null;
        foreach (var signature in envelope.Signatures)
        {
            var key = bundle.Keys.FirstOrDefault(k => k.KeyId == signature.KeyId);
            Verified<T> problem;
            if (key is null) problem = Verified<T>.Refuse(TrustFailure.UnknownKey, $"signing key {signature.KeyId} is not certified by trust bundle v{bundle.Version}");
            else if (bundle.RevokedKeyIds.Contains(key.KeyId)) problem = Verified<T>.Refuse(TrustFailure.RevokedKey, $"signing key {key.KeyId} is revoked (trust bundle v{bundle.Version})");
            else if (key.ExpiresUnixMs <= nowUnixMs) problem = Verified<T>.Refuse(TrustFailure.ExpiredKey, $"signing key {key.KeyId} expired at {Protocol.WireTime.Describe(key.ExpiresUnixMs)}");
            else if (!key.Roles.Contains(role)) problem = Verified<T>.Refuse(TrustFailure.WrongRole, $"signing key {key.KeyId} may not sign a {Signatures.TypeOf<T>()}");
            else if (Signatures.KeyIdOf(key.PublicKey.Span) != key.KeyId || !Signatures.Verify(key.PublicKey.Span, envelope, signature)) problem = Verified<T>.Refuse(TrustFailure.BadSignature, $"{Signatures.TypeOf<T>()} signature by {key.KeyId} does not verify (tampered?)");
            else return parsed;
            firstProblem ??= problem;
        }

        return firstProblem ?? Verified<T>.Refuse(TrustFailure.UnknownKey, $"{Signatures.TypeOf<T>()} is not signed");
    }

    private static Verified<T> Parse<T>(Signed envelope, MessageParser<T> parser) where T : class, IMessage<T>, new()
    {
        var type = Signatures.TypeOf<T>();
        if (envelope.BodyType != type) return Verified<T>.Refuse(TrustFailure.WrongType, $"expected a signed {type}, got '{envelope.BodyType}'");
        try
        {
            return Verified<T>.Accept(parser.ParseFrom(envelope.Body));
        }
        catch (InvalidProtocolBufferException ex)
        {
            return Verified<T>.Refuse(TrustFailure.Malformed, $"signed {type} does not parse: {ex.Message}");
        }
    }
}
