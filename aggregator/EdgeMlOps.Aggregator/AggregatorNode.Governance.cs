using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    /// <summary>Root and signing keys; the root public key is what devices pin.</summary>
    public Trust.KeyRing Keys => _stores.Keys;

    public ModelGovernance Governance => _stores.Governance;

    public AuditLog Audit => _stores.Audit;

    /// <summary>The manifest of a registered version, signed now by the active signing key.</summary>
    public (ModelManifest Manifest, Signed Envelope) SignManifest(ModelVersionRecord record, bool trainingOnly = false) => _signer.Sign(record, trainingOnly);

    /// <summary>The version devices are meant to serve (the latest deployed), or null if none yet.</summary>
    public ModelVersionRecord? DeployedVersion => Governance.Deployed(_options.ModelName);

    /// <summary>
    /// Runs the registry's rules on a new version. Auto mode: approved by policy and deployed to
    /// the fleet (the previous deployed version is archived). Governed mode: the validation gates
    /// compare it with the deployed version on the aggregator's evaluation data.
    /// </summary>
    private ModelVersionRecord Govern(ModelVersionRecord record, byte[] inferenceBytes)
    {
        var governance = Governance;
        if (_options.Governance.Mode == DeploymentMode.Auto)
        {
            var previous = DeployedVersion;
            record = governance.Move(record, VersionStates.Approved, "system:auto", "auto mode: approved by policy");
            record = governance.Move(record, VersionStates.Deployed, "system:auto", "auto mode: announced to the whole fleet");
            if (previous is not null && previous.Version != record.Version) governance.Move(previous, VersionStates.Archived, "system:auto", $"replaced by v{record.Version}");
            return record;
        }

        IReadOnlyDictionary<string, EvaluationScore>? candidate = null, live = null;
        if (_evaluator is not null)
        {
            using (var model = InferenceModel.Load(inferenceBytes)) candidate = _evaluator.EvaluateCohorts(model);
            if (DeployedVersion is { } deployed)
            {
                using var liveModel = InferenceModel.Load(Artifacts.Read(deployed.InferenceSha256));
                live = _evaluator.EvaluateCohorts(liveModel);
            }
        }

        var outcome = ValidationGate.Decide(candidate, live, _options.Governance);
        governance.RecordValidation(record, outcome);
        return Registry.Version(record.Model, record.Version) ?? record;
    }

    /// <summary>Re-signs the retained announcement and plan well before their manifests expire.</summary>
    private async Task ResignLoopAsync()
    {
        var period = TimeSpan.FromTicks(Math.Clamp(_options.Trust.ManifestLifetime.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromHours(6).Ticks));
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                await Task.Delay(period, _time, _stopping.Token).ConfigureAwait(false);
                try
                {
                    await RepublishAsync(_stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    LogRepublishFailed(ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Announces the training head and the active rollout plan again, freshly signed (after a key rotation, or before expiry).</summary>
    public async Task RepublishAsync(CancellationToken cancellationToken)
    {
        if (Keys.RotateIfExpiring(_time.GetUtcNow()) is { } renewed)
        {
            Audit.Append(_time.GetUtcNow(), "system:keys", "key.rotate", "keys/signing", "signing key near its expiry", null, renewed);
        }

        await PublishTrustAsync(cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(_current, cancellationToken).ConfigureAwait(false);
        await Rollouts.RepublishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The trust bundle on its own retained topic (it also travels in every announcement and plan).</summary>
    private Task PublishTrustAsync(CancellationToken cancellationToken) =>
        _publisher.PublishRetainedAsync(_topics.Trust, Keys.BundleEnvelope.ToByteArray(), cancellationToken);

    /// <summary>Certifies a new signing key (optionally revoking the old), audits it, and re-signs what devices see.</summary>
    public async Task<string> RotateSigningKeyAsync(string actor, bool revokeOld, string reason, CancellationToken cancellationToken)
    {
        var before = Keys.SigningKeyId;
        var after = Keys.Rotate(revokeOld, _time.GetUtcNow());
        Audit.Append(_time.GetUtcNow(), actor, revokeOld ? "key.rotate+revoke" : "key.rotate", "keys/signing", reason, before, after);
        await RepublishAsync(cancellationToken).ConfigureAwait(false);
        return after;
    }

    /// <summary>Revokes a device's identity at once (connection dropped, no reconnection, no new certificate) and audits it.</summary>
    public async Task RevokeDeviceAsync(string deviceId, string reason, string actor)
    {
        if (!Shared.Protocol.Topics.IsValidSegment(deviceId)) throw new ArgumentException($"'{deviceId}' is not a device id");
        await Security.RevokeAsync(deviceId, reason, actor, _broker).ConfigureAwait(false);
        Audit.Append(_time.GetUtcNow(), actor, "device.revoke", "devices/" + deviceId, reason, null, "revoked");
    }

    /// <summary>
    /// Registers a version trained elsewhere (a data scientist's upload) as the next version: it
    /// becomes the training head, goes through the same gates, and records <paramref name="createdBy"/>
    /// as its creator, who can then never approve it.
    /// </summary>
    public async Task<ModelVersionRecord> RegisterVersionAsync(ModelWeights weights, string createdBy, string reason, CancellationToken cancellationToken)
    {
        if (!weights.Spec.Equals(_options.Model)) throw new ArgumentException($"model is {weights.Spec}; this fleet's model is {_options.Model}");
        if (Array.Exists(weights.Values, v => !float.IsFinite(v)))
        {
            throw new ArgumentException("model weights contain non-finite values");
        }

        await _roundGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var model = RegisterVersion(weights, _current.Record.Version, round: 0, contributors: 0, samples: 0, trainLoss: null, createdBy, reason);
            Monitor.DiscardTraining();
            PromoteReference(model.Record.Version, _current.Record.Version);
            _current = model;
            await AnnounceAsync(model, cancellationToken).ConfigureAwait(false);
            return Registry.Version(model.Record.Model, model.Record.Version) ?? model.Record;
        }
        finally
        {
            _roundGate.Release();
        }
    }

    /// <summary>Staged rollouts of this fleet's model.</summary>
    public Rollouts.RolloutManager Rollouts { get; }

    internal TimeProvider Time => _time;

    private async Task RestoreRolloutAsync(CancellationToken cancellationToken)
    {
        await Rollouts.RestoreAsync(cancellationToken).ConfigureAwait(false);
        _rolloutLoop = Task.Run(RolloutLoopAsync, CancellationToken.None);
    }

    /// <summary>Judges the active rollout's gates every <see cref="GovernanceOptions.RolloutCheckInterval"/>.</summary>
    private async Task RolloutLoopAsync()
    {
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                await Task.Delay(_options.Governance.RolloutCheckInterval, _time, _stopping.Token).ConfigureAwait(false);
                try
                {
                    await Rollouts.EvaluateAsync(_stopping.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    Rollouts.LogRollout(Rollouts.Current?.Id ?? "-", "gate check failed", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
