using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// The fleet's retained, signed statements: the trust bundle, the announcement of the training head (its signed
/// manifest; served only when it is deployed in auto mode, otherwise for training) and, through the rollout manager,
/// the active plan — re-signed well before their manifests expire, and after every key rotation. The fleet's first
/// model also publishes the catalogue of the fleet's model lines (<see cref="Lines.FleetLines.Current"/>, empty when it
/// has none, so that a line taken out of the configuration or removed at run time is taken off devices too).
/// </summary>
public sealed class FleetAnnouncer(
    AggregatorOptions options, FleetStores stores, ModelRepository models, Trust.ManifestSigner signer, FleetPublisher publisher,
    Rollouts.RolloutManager rollouts, AggregatorHeaders headers, Func<Uri> artifactBaseUrl, TimeProvider time, ILogger logger, Lines.FleetLines lines)
{
    private readonly Topics _topics = options.Topics;

    /// <summary>Publishes the retained announcement of <paramref name="model"/> with its signed manifest and the trust bundle.</summary>
    public async Task AnnounceAsync(GlobalModel model, CancellationToken cancellationToken)
    {
        var trainingOnly = options.Governance.Mode == DeploymentMode.Governed || stores.Registry.Version(model.Record.Model, model.Record.Version)?.State != VersionStates.Deployed;
        var (manifest, envelope) = signer.Sign(model.Record, trainingOnly);
        var announcement = ManifestRules.ToAnnouncement(manifest, envelope, artifactBaseUrl().ToString());
        announcement.Header = headers.Next();
        announcement.Trust = stores.Keys.BundleEnvelope;
        await publisher.PublishRetainedAsync(_topics.Model, announcement.ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The trust bundle on its own retained topic (it also travels in every announcement and plan), and the signed list of
    /// revoked devices beside it (signed again with every key rotation, so it never rests on a revoked key).
    /// </summary>
    public async Task PublishTrustAsync(CancellationToken cancellationToken)
    {
        await publisher.PublishRetainedAsync(_topics.Trust, stores.Keys.BundleEnvelope.ToByteArray(), cancellationToken).ConfigureAwait(false);
        await PublishRevocationsAsync(cancellationToken).ConfigureAwait(false);
        if (options.Line is null) await PublishCatalogueAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The fleet's model lines and the cohorts that run them, signed (again with every key rotation) and retained fleet-wide.</summary>
    public Task PublishCatalogueAsync(CancellationToken cancellationToken)
    {
        return publisher.PublishRetainedAsync(_topics.Catalogue, () =>
        {
            var catalogue = new ModelCatalogue { Fleet = options.ProtocolFleet, IssuedUnixMs = stores.Issued.Next() };
            catalogue.Lines.AddRange(lines.Current.Select(l => l.ToCatalogueEntry()));
            return stores.Keys.Sign(catalogue).ToByteArray();
        }, cancellationToken);
    }

    /// <summary>The signed list of every revoked device (edge gateways refuse them at their sites' brokers).</summary>
    public Task PublishRevocationsAsync(CancellationToken cancellationToken)
    {
        return publisher.PublishRetainedAsync(_topics.Revocations, () =>
        {
            var list = new DeviceRevocations { Fleet = options.ProtocolFleet, IssuedUnixMs = stores.Issued.Next() };
            list.DeviceIds.AddRange(stores.Security.Store.RevokedDevices().Order(StringComparer.Ordinal));
            return stores.Keys.Sign(list).ToByteArray();
        }, cancellationToken);
    }

    /// <summary>Announces the training head and the active rollout plan again, freshly signed (after a key rotation, or before expiry).</summary>
    public async Task RepublishAsync(CancellationToken cancellationToken)
    {
        if (stores.Keys.RotateIfExpiring(time.GetUtcNow()) is { } renewed)
        {
            stores.Audit.Append(time.GetUtcNow(), "system:keys", "key.rotate", "keys/signing", "signing key near its expiry", null, renewed);
        }

        await PublishTrustAsync(cancellationToken).ConfigureAwait(false);
        await AnnounceAsync(models.Head, cancellationToken).ConfigureAwait(false);
        await rollouts.RepublishAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Certifies a new signing key (optionally revoking the old), audits it, and re-signs what devices see.</summary>
    public async Task<string> RotateSigningKeyAsync(string actor, bool revokeOld, string reason, CancellationToken cancellationToken)
    {
        var before = stores.Keys.SigningKeyId;
        var after = stores.Keys.Rotate(revokeOld, time.GetUtcNow());
        stores.Audit.Append(time.GetUtcNow(), actor, revokeOld ? "key.rotate+revoke" : "key.rotate", "keys/signing", reason, before, after);
        await RepublishAsync(cancellationToken).ConfigureAwait(false);
        return after;
    }

    /// <summary>Issues a freshness statement every quarter of its lifetime until <paramref name="stopping"/> (TUF's timestamp role).</summary>
    public async Task RunTimestampsAsync(CancellationToken stopping)
    {
        if (publisher.TimestampPeriod is not { } period) return;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(period, time, stopping).ConfigureAwait(false);
                try
                {
                    await publisher.VouchAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    logger.LogRepublishFailed(ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Re-signs every quarter of the manifest lifetime (between a second and six hours) until <paramref name="stopping"/>.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(options.Trust.ManifestLifetime.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromHours(6).Ticks));
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(period, time, stopping).ConfigureAwait(false);
                try
                {
                    await RepublishAsync(stopping).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
                {
                    logger.LogRepublishFailed(ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
