using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;

namespace EdgeMlOps.Aggregator.Trust;

/// <summary>Turns a registered version into the signed manifest devices verify (architecture, artifacts, lineage, metrics, expiry).</summary>
public sealed class ManifestSigner(AggregatorOptions options, KeyRing keys, TimeProvider time)
{
    /// <summary>The manifest of a registered version, signed now by the active signing key.</summary>
    public (ModelManifest Manifest, Signed Envelope) Sign(ModelVersionRecord record, bool trainingOnly = false)
    {
        var spec = options.Model;
        var manifest = new ModelManifest
        {
            Fleet = options.ProtocolFleet,
            ModelName = record.Model,
            Version = record.Version,
            ParentVersion = record.Parent,
            TrainingOnly = trainingOnly,
            Architecture = ModelArchitectures.From(spec, options.Monitoring.CategoricalFeatures),
            Artifacts =
            {
                new ArtifactRef { Name = ManifestRules.InferenceArtifact, Sha256 = record.InferenceSha256, Size = (ulong)record.InferenceSize, Path = Http.AggregatorApi.ArtifactPath(record.InferenceSha256) },
            },
            Lineage = new ManifestLineage { Round = (ulong)Math.Max(0, record.Round), Contributors = (uint)record.Contributors, Samples = (ulong)record.Samples, CreatedBy = record.CreatedBy },
            CreatedUnixMs = record.CreatedAt.ToUnixTimeMilliseconds(),
            ExpiresUnixMs = (time.GetUtcNow() + options.Trust.ManifestLifetime).ToUnixTimeMilliseconds(),
        };
        // A serve-only model (no trained tensors) has no train step.
        if (record.TrainStepSha256.Length > 0)
        {
            manifest.Artifacts.Add(new ArtifactRef { Name = ManifestRules.TrainStepArtifact, Sha256 = record.TrainStepSha256, Size = (ulong)record.TrainStepSize, Path = Http.AggregatorApi.ArtifactPath(record.TrainStepSha256) });
        }

        if (record.EvalAccuracy is { } accuracy) manifest.Metrics["eval_accuracy"] = accuracy;
        if (record.EvalLoss is { } loss) manifest.Metrics["eval_loss"] = loss;
        if (record.TrainLoss is { } trainLoss) manifest.Metrics["train_loss"] = trainLoss;
        foreach (var task in record.TaskScores ?? [])
        {
            if (task.Loss is { } taskLoss) manifest.Metrics[$"eval_task.{task.Output}.loss"] = taskLoss; // a multi-task model's each task
            if (task.Score is { } taskScore) manifest.Metrics[$"eval_task.{task.Output}.score"] = taskScore;
        }
        return (manifest, keys.Sign(manifest));
    }
}
