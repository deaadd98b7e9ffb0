using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Trust;

public sealed class TrustVerifierTests : IDisposable
{
    private const long Now = 1_800_000_000_000;
    private readonly SigningKeyPair _root = SigningKeyPair.Generate();
    private readonly SigningKeyPair _signer = SigningKeyPair.Generate();
    private readonly SigningKeyPair _stranger = SigningKeyPair.Generate();

    public void Dispose()
    {
        _root.Dispose();
        _signer.Dispose();
        _stranger.Dispose();
    }

    private static SigningKey Certify(SigningKeyPair key, params KeyRole[] roles) => new()
    {
        KeyId = key.KeyId,
        PublicKey = ByteString.CopyFrom(key.PublicKey),
        Roles = { roles.Length == 0 ? [KeyRole.Manifest, KeyRole.Rollout] : roles },
        ExpiresUnixMs = Now + 86_400_000,
    };

    private Signed Bundle(ulong version, IEnumerable<SigningKey> keys, IEnumerable<string>? revoked = null, SigningKeyPair? signer = null)
    {
        var bundle = new TrustBundle { Fleet = "f", Version = version, Keys = { keys } };
        bundle.RevokedKeyIds.Add(revoked ?? []);
        return Signatures.Sign(bundle, signer ?? _root);
    }

    private static ModelManifest Manifest(ulong version, long expires = Now + 3_600_000) => new()
    {
        Fleet = "f",
        ModelName = "digits",
        Version = version,
        ParentVersion = version - 1,
        Architecture = new ModelArchitecture { InputDim = 4, Classes = 3, Hidden = { 5 } },
        Artifacts =
        {
            new ArtifactRef { Name = ManifestRules.InferenceArtifact, Sha256 = new string('a', 64), Size = 100 },
            new ArtifactRef { Name = ManifestRules.TrainStepArtifact, Sha256 = new string('b', 64), Size = 200 },
        },
        CreatedUnixMs = Now,
        ExpiresUnixMs = expires,
    };

    private TrustVerifier Device()
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer)])).Ok);
        return device;
    }

    [Fact]
    public void GenuineManifest_IsAccepted()
    {
        var verdict = Device().VerifyManifest(Signatures.Sign(Manifest(2), _signer), Now);
        Assert.True(verdict.Ok, verdict.Reason);
        Assert.Equal(2UL, verdict.Value!.Version);
    }

    [Fact]
    public void TamperedManifest_FailsItsSignature()
    {
        var signed = Signatures.Sign(Manifest(2), _signer);
        var tampered = Manifest(2);
        tampered.Artifacts[0].Sha256 = new string('c', 64);
        signed.Body = tampered.ToByteString();
        Assert.Equal(TrustFailure.BadSignature, Device().VerifyManifest(signed, Now).Failure);
    }

    [Fact]
    public void ManifestSignedByAnUncertifiedKey_IsRefused()
    {
        Assert.Equal(TrustFailure.UnknownKey, Device().VerifyManifest(Signatures.Sign(Manifest(2), _stranger), Now).Failure);
    }

    [Fact]
    public void RevokedKey_IsRefused_AndTheOldBundleCannotBeReplayed()
    {
        var device = Device();
        var oldBundle = Bundle(1, [Certify(_signer)]);
        Assert.True(device.AcceptBundle(Bundle(2, [Certify(_stranger)], [_signer.KeyId])).Ok);

        var verdict = device.VerifyManifest(Signatures.Sign(Manifest(2), _signer), Now);
        Assert.Equal(TrustFailure.UnknownKey, verdict.Failure);
        Assert.Equal(TrustFailure.StaleBundle, device.AcceptBundle(oldBundle).Failure);

        // A bundle that still lists the key but also revokes it: revocation wins.
        Assert.True(device.AcceptBundle(Bundle(3, [Certify(_signer), Certify(_stranger)], [_signer.KeyId])).Ok);
        Assert.Equal(TrustFailure.RevokedKey, device.VerifyManifest(Signatures.Sign(Manifest(2), _signer), Now).Failure);
        Assert.True(device.VerifyManifest(Signatures.Sign(Manifest(2), _stranger), Now).Ok);
    }

    [Fact]
    public void BundleNotSignedByAPinnedRoot_IsRefused()
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.Equal(TrustFailure.UnknownKey, device.AcceptBundle(Bundle(1, [Certify(_stranger)], signer: _stranger)).Failure);
        Assert.Null(device.Bundle);
        Assert.Equal(TrustFailure.UnknownKey, device.VerifyManifest(Signatures.Sign(Manifest(2), _stranger), Now).Failure);
    }

    private static FreshnessStatement Freshness(long expires = Now + 60_000, string fleet = "f", long issued = Now - 1_000) => new()
    {
        Fleet = fleet, IssuedUnixMs = issued, ExpiresUnixMs = expires,
        Statements = { new RetainedDigest { Topic = "edgemlops/v1/f/model", Sha256 = new string('d', 64) } },
    };

    [Fact]
    public void FreshnessStatements_AreAcceptedOnlyFromATimestampKey_AndATimestampKeySignsNothingElse()
    {
        using var timestamp = SigningKeyPair.Generate();
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer), Certify(timestamp, KeyRole.Timestamp)])).Ok);

        var verdict = device.VerifyFreshness(Signatures.Sign(Freshness(), timestamp), Now);
        Assert.True(verdict.Ok, verdict.Reason);
        Assert.Single(verdict.Value!.Statements);

        // The manifest and rollout key may not vouch for freshness, nor the timestamp key sign what devices install or follow.
        Assert.Equal(TrustFailure.WrongRole, device.VerifyFreshness(Signatures.Sign(Freshness(), _signer), Now).Failure);
        Assert.Equal(TrustFailure.WrongRole, device.VerifyManifest(Signatures.Sign(Manifest(2), timestamp), Now).Failure);
        Assert.Equal(TrustFailure.Expired, device.VerifyFreshness(Signatures.Sign(Freshness(expires: Now), timestamp), Now).Failure);
        Assert.Equal(TrustFailure.WrongFleet, device.VerifyFreshness(Signatures.Sign(Freshness(fleet: "g"), timestamp), Now).Failure);
        var malformed = Freshness();
        malformed.Statements[0].Sha256 = "not-a-hash";
        Assert.Equal(TrustFailure.Malformed, device.VerifyFreshness(Signatures.Sign(malformed, timestamp), Now).Failure);
    }

    [Fact]
    public void ExpiredManifest_IsRefused_FreezeAttack()
    {
        var verdict = Device().VerifyManifest(Signatures.Sign(Manifest(2, expires: Now - 1), _signer), Now);
        Assert.Equal(TrustFailure.Expired, verdict.Failure);
        Assert.Contains("expired", verdict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ExpiredSigningKey_IsRefused()
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        var key = Certify(_signer);
        key.ExpiresUnixMs = Now - 1;
        Assert.True(device.AcceptBundle(Bundle(1, [key])).Ok);
        Assert.Equal(TrustFailure.ExpiredKey, device.VerifyManifest(Signatures.Sign(Manifest(2), _signer), Now).Failure);
    }

    [Fact]
    public void KeyWithoutTheManifestRole_CannotSignManifests()
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer, KeyRole.Rollout)])).Ok);
        Assert.Equal(TrustFailure.WrongRole, device.VerifyManifest(Signatures.Sign(Manifest(2), _signer), Now).Failure);
    }

    [Fact]
    public void SignedBundle_CannotBeReadAsAManifest()
    {
        var envelope = Bundle(1, [Certify(_signer)], signer: _signer);
        envelope.BodyType = Signatures.TypeOf<ModelManifest>();
        Assert.Equal(TrustFailure.BadSignature, Device().VerifyManifest(envelope, Now).Failure);
        Assert.Equal(TrustFailure.WrongType, Device().VerifyManifest(Bundle(1, [Certify(_signer)], signer: _signer), Now).Failure);
    }

    [Fact]
    public void Downgrade_IsRefused_UnlessASignedDirectiveAllowsExactlyThatVersion()
    {
        var manifest = Manifest(3);
        Assert.Equal(TrustFailure.Downgrade, ManifestRules.CheckVersion(manifest, installedVersion: 5).Failure);
        Assert.Equal(TrustFailure.Downgrade, ManifestRules.CheckVersion(manifest, installedVersion: 3).Failure);
        Assert.Equal(TrustFailure.Downgrade, ManifestRules.CheckVersion(manifest, installedVersion: 5, allowedDowngradeTo: 4).Failure);
        Assert.True(ManifestRules.CheckVersion(manifest, installedVersion: 5, allowedDowngradeTo: 3).Ok);
        Assert.True(ManifestRules.CheckVersion(manifest, installedVersion: 2).Ok);
    }

    [Fact]
    public void AnnouncementWithAnotherVersionsArtifacts_IsRefused_MixAndMatch()
    {
        var v2 = Manifest(2);
        var signed = Signatures.Sign(v2, _signer);
        var honest = ManifestRules.ToAnnouncement(v2, signed, "http://a/");
        Assert.True(ManifestRules.MatchesAnnouncement(v2, honest).Ok);

        var mixed = honest.Clone();
        mixed.Inference.Sha256 = new string('d', 64);
        Assert.Equal(TrustFailure.ArtifactMismatch, ManifestRules.MatchesAnnouncement(v2, mixed).Failure);
        var relabelled = honest.Clone();
        relabelled.Version = 7;
        Assert.Equal(TrustFailure.ArtifactMismatch, ManifestRules.MatchesAnnouncement(v2, relabelled).Failure);
    }

    [Fact]
    public void ATrainStep_TravelsWithEveryVersion_ExceptOneTheSignedArchitectureDeclaresServeOnly()
    {
        var dense = Manifest(2);
        var withoutStep = dense.Clone();
        withoutStep.Artifacts.RemoveAt(1);
        Assert.Throws<InvalidDataException>(() => ManifestRules.ToAnnouncement(withoutStep, Signatures.Sign(withoutStep, _signer), "http://a/"));
        var dropped = ManifestRules.ToAnnouncement(dense, Signatures.Sign(dense, _signer), "http://a/");
        dropped.TrainStep = null;
        Assert.Equal(TrustFailure.ArtifactMismatch, ManifestRules.MatchesAnnouncement(dense, dropped).Failure);

        // An uploaded graph with no trained tensors: no train step, and one added to it does not match.
        var served = withoutStep.Clone();
        served.Architecture = new ModelArchitecture
        {
            InputDim = 13, Classes = 3,
            Graph = new GraphInterfaceSpec { FeaturesInput = "features", SampleDims = { 13 }, ScoresOutput = "probabilities", SourceSha256 = new string('a', 64) },
        };
        Assert.True(ManifestRules.ServeOnly(served.Architecture));
        var honest = ManifestRules.ToAnnouncement(served, Signatures.Sign(served, _signer), "http://a/");
        Assert.Null(honest.TrainStep);
        Assert.True(ManifestRules.MatchesAnnouncement(served, honest).Ok);
        var smuggled = honest.Clone();
        smuggled.TrainStep = new ArtifactRef { Name = ManifestRules.TrainStepArtifact, Sha256 = new string('b', 64), Size = 200 };
        Assert.Equal(TrustFailure.ArtifactMismatch, ManifestRules.MatchesAnnouncement(served, smuggled).Failure);
        var servedWithStep = served.Clone();
        servedWithStep.Artifacts.Add(dense.Artifacts[1].Clone());
        Assert.Throws<InvalidDataException>(() => ManifestRules.ToAnnouncement(servedWithStep, Signatures.Sign(servedWithStep, _signer), "http://a/"));
    }

    [Fact]
    public void ManifestForAnotherFleet_IsRefused()
    {
        var other = Manifest(2);
        other.Fleet = "g";
        Assert.Equal(TrustFailure.WrongFleet, Device().VerifyManifest(Signatures.Sign(other, _signer), Now).Failure);
    }

    [Fact]
    public void RolloutPlan_NeedsTheRolloutRole_AndValidStages()
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer, KeyRole.Manifest), Certify(_stranger, KeyRole.Rollout)])).Ok);
        var plan = new RolloutPlan { Fleet = "f", RolloutId = "r", Revision = 1, ModelName = "digits", TargetManifest = Signatures.Sign(Manifest(2), _signer), StageFractions = { 0.1, 1.0 }, State = RolloutState.Active };
        Assert.Equal(TrustFailure.WrongRole, device.VerifyPlan(Signatures.Sign(plan, _signer), Now).Failure);
        Assert.True(device.VerifyPlan(Signatures.Sign(plan, _stranger), Now).Ok);
        plan.StageFractions.Add(0.5);
        Assert.Equal(TrustFailure.Malformed, device.VerifyPlan(Signatures.Sign(plan, _stranger), Now).Failure);
    }

    /// <summary>
    /// A signed plan whose health window a device cannot wait out (past 7 days: a window of 2^32−1 s made the trial's
    /// delay throw and the trial never end) or whose limits are no numbers in their ranges (a NaN error rate never
    /// fails a version: the device would keep it whatever its errors) is refused, as a malformed plan.
    /// </summary>
    [Theory]
    [InlineData(uint.MaxValue, 0.01, 0.0, "health window of 4294967295 s")]
    [InlineData(604_801u, 0.01, 0.0, "health window of 604801 s")]
    [InlineData(60u, double.NaN, 0.0, "max error rate NaN")]
    [InlineData(60u, 1.5, 0.0, "max error rate 1.5")]
    [InlineData(60u, 0.01, double.NaN, "latency budget NaN")]
    [InlineData(60u, 0.01, -1.0, "latency budget -1")]
    public void ARolloutPlanWhoseHealthPolicyNoDeviceCouldJudgeBy_IsRefused(uint window, double maxErrorRate, double latencyBudget, string reason)
    {
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer, KeyRole.Manifest), Certify(_stranger, KeyRole.Rollout)])).Ok);
        var plan = new RolloutPlan
        {
            Fleet = "f", RolloutId = "r", Revision = 1, ModelName = "digits", TargetManifest = Signatures.Sign(Manifest(2), _signer), StageFractions = { 0.1, 1.0 }, State = RolloutState.Active,
            Health = new HealthPolicy { WindowSeconds = 604_800, MaxErrorRate = 1, LatencyBudgetP95Ms = 1e-6 },
        };
        Assert.True(device.VerifyPlan(Signatures.Sign(plan, _stranger), Now).Ok); // the edges of every range pass

        plan.Health = new HealthPolicy { WindowSeconds = window, MaxErrorRate = maxErrorRate, LatencyBudgetP95Ms = latencyBudget };
        var refused = device.VerifyPlan(Signatures.Sign(plan, _stranger), Now);
        Assert.Equal(TrustFailure.Malformed, refused.Failure);
        Assert.Contains(reason, refused.Reason, StringComparison.Ordinal);
    }

    /// <summary>
    /// A statement ordered by its issue date (a catalogue, a revocation list, a rollout plan, a freshness statement) dated
    /// far ahead — an aggregator whose clock jumped, a standby with a clock ahead of the leader's, a signer's bug — once
    /// outranked every real one after it until the clock caught up: a list dated a year ahead left every device revoked
    /// later served at the gateways for a year. Over an hour ahead of the verifier's clock (the tolerance devices already
    /// need for freshness statements, an hour's lifetime) it is refused, saying by how much.
    /// </summary>
    [Theory]
    [InlineData("catalogue")]
    [InlineData("revocations")]
    [InlineData("plan")]
    [InlineData("freshness")]
    public void AStatementIssuedOverAnHourAheadOfTheVerifiersClock_IsRefused(string kind)
    {
        using var timestamp = SigningKeyPair.Generate();
        var device = new TrustVerifier("f", [_root.PublicKey]);
        Assert.True(device.AcceptBundle(Bundle(1, [Certify(_signer), Certify(timestamp, KeyRole.Timestamp)])).Ok);
        TrustFailure Verify(long issued) => kind switch
        {
            "catalogue" => device.VerifyCatalogue(Signatures.Sign(new ModelCatalogue { Fleet = "f", IssuedUnixMs = issued }, _signer), Now).Failure,
            "revocations" => device.VerifyRevocations(Signatures.Sign(new DeviceRevocations { Fleet = "f", IssuedUnixMs = issued }, _signer), Now).Failure,
            "plan" => device.VerifyPlan(Signatures.Sign(new RolloutPlan { Fleet = "f", RolloutId = "r", Revision = 1, ModelName = "digits", TargetManifest = Signatures.Sign(Manifest(2), _signer), StageFractions = { 1.0 }, State = RolloutState.Active, IssuedUnixMs = issued }, _signer), Now).Failure,
            _ => device.VerifyFreshness(Signatures.Sign(Freshness(issued: issued), timestamp), Now).Failure,
        };

        Assert.Equal(TrustFailure.None, Verify(Now + 3_600_000)); // an hour ahead: a clock that drifted, taken
        Assert.Equal(TrustFailure.IssuedAhead, Verify(Now + 3_600_001));
        Assert.Equal(TrustFailure.IssuedAhead, Verify(Now + (365L * 86_400_000)));
        Assert.Equal(TrustFailure.IssuedAhead, Verify(long.MaxValue));
    }

    [Fact]
    public void StageMembership_IsStableAndProportional_AndCohortsSelectByTags()
    {
        var plan = new RolloutPlan { RolloutId = "digits-v2-1", StageFractions = { 0.01, 0.1, 0.5, 1.0 }, Stage = 1, State = RolloutState.Active };
        var ids = Enumerable.Range(0, 20_000).Select(i => $"dev-{i:D5}").ToArray();
        var stages = ids.Select(id => RolloutMembership.StageOf(id, plan)).ToArray();
        Assert.Equal(stages, ids.Select(id => RolloutMembership.StageOf(id, plan)));
        Assert.InRange(stages.Count(s => s == 0) / 20_000.0, 0.007, 0.013);
        Assert.InRange(stages.Count(s => s <= 1) / 20_000.0, 0.09, 0.11);
        Assert.InRange(stages.Count(s => s <= 2) / 20_000.0, 0.48, 0.52);
        Assert.All(stages, s => Assert.InRange(s, 0, 3));

        var tags = new Dictionary<string, string> { ["hw"] = "pi4", ["region"] = "eu" };
        Assert.True(RolloutMembership.InCohort(tags, plan));
        plan.Cohort["hw"] = new CohortValues { Values = { "pi4", "jetson" } };
        Assert.True(RolloutMembership.InCohort(tags, plan));
        plan.Cohort["region"] = new CohortValues { Values = { "us" } };
        Assert.False(RolloutMembership.InCohort(tags, plan));
        Assert.False(RolloutMembership.IsTargeted("dev-00001", tags, plan));
    }
}
