using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Trust;

/// <summary>The install-time rules a device applies to a verified manifest.</summary>
public static class ManifestRules
{
    public const string InferenceArtifact = "model.onnx";
    public const string TrainStepArtifact = "train_step.onnx";

    /// <summary>The name a device gives the preprocessing graph a tensor model's signed interface pins (by sha256 and size).</summary>
    public const string PreprocessArtifact = "preprocess.onnx";

    /// <summary>Where the aggregator serves an artifact, relative to its artifact base URL: by content.</summary>
    public static string ArtifactPath(string sha256) => $"/v1/artifacts/{sha256}";

    /// <summary>
    /// Refuses a version that is not newer than the installed one (rollback attack) unless
    /// <paramref name="allowedDowngradeTo"/>, taken from a signed rollback directive, names exactly it.
    /// </summary>
    public static Verified<ModelManifest> CheckVersion(ModelManifest manifest, ulong installedVersion, ulong? allowedDowngradeTo = null)
    {
        if (manifest.Version > installedVersion || manifest.Version == allowedDowngradeTo) return Verified<ModelManifest>.Accept(manifest);
        return Verified<ModelManifest>.Refuse(TrustFailure.Downgrade,
            $"{manifest.ModelName} v{manifest.Version} is not newer than installed v{installedVersion} and no signed rollback directive allows it");
    }

    /// <summary>The artifact named <paramref name="name"/>, or null.</summary>
    public static ArtifactRef? Artifact(ModelManifest manifest, string name) => manifest.Artifacts.FirstOrDefault(a => a.Name == name);

    /// <summary>
    /// Checks that an announcement's unsigned fields say what its signed manifest says
    /// (a manifest of one version must not travel with another version's artifacts).
    /// </summary>
    public static Verified<ModelManifest> MatchesAnnouncement(ModelManifest manifest, ModelAnnouncement announcement)
    {
        var inference = Artifact(manifest, InferenceArtifact);
        var train = Artifact(manifest, TrainStepArtifact);
        // A train step comes with every version except one the signed architecture declares serve-only.
        var trainMatches = ServeOnly(manifest.Architecture) ? train is null && announcement.TrainStep is null : train is not null && Same(train, announcement.TrainStep);
        if (manifest.ModelName != announcement.ModelName || manifest.Version != announcement.Version
            || inference is null || !trainMatches
            || !Same(inference, announcement.Inference)
            || !Equals(manifest.Architecture, announcement.Architecture)
            || manifest.TrainingOnly != announcement.TrainingOnly)
        {
            return Verified<ModelManifest>.Refuse(TrustFailure.ArtifactMismatch,
                $"announcement of {announcement.ModelName} v{announcement.Version} does not match its signed manifest ({manifest.ModelName} v{manifest.Version})");
        }

        return Verified<ModelManifest>.Accept(manifest);
    }

    /// <summary>The announcement a device stores for a verified manifest: every field from the signed manifest.</summary>
    public static ModelAnnouncement ToAnnouncement(ModelManifest manifest, Signed envelope, string artifactBaseUrl)
    {
        var inference = Artifact(manifest, InferenceArtifact) ?? throw new InvalidDataException("manifest has no inference artifact");
        var train = Artifact(manifest, TrainStepArtifact);
        if (train is null != ServeOnly(manifest.Architecture)) throw new InvalidDataException(train is null ? "manifest has no train-step artifact" : "a serve-only manifest carries a train-step artifact");
        return new ModelAnnouncement
        {
            Header = new Header { ProtocolVersion = Protocol.ProtocolInfo.CurrentVersion, Fleet = manifest.Fleet },
            ModelName = manifest.ModelName,
            Version = manifest.Version,
            ParentVersion = manifest.ParentVersion,
            Architecture = manifest.Architecture.Clone(),
            Inference = inference.Clone(),
            TrainStep = train?.Clone(),
            ArtifactBaseUrl = artifactBaseUrl,
            Manifest = envelope,
            TrainingOnly = manifest.TrainingOnly,
        };
    }

    /// <summary>An uploaded graph the fleet only serves: it declares no trained tensors, so it has no train step.</summary>
    public static bool ServeOnly(ModelArchitecture? architecture) => architecture?.Graph is { Trained.Count: 0 };

    private static bool Same(ArtifactRef signed, ArtifactRef? unsigned) =>
        unsigned is not null && signed.Sha256 == unsigned.Sha256 && signed.Size == unsigned.Size;
}
