using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// Makes a new training head: from a round's combined delta (through the strategy's server optimizer) or from
/// uploaded weights; registers it, gives it its reference profile, keeps the strategy's state with it, announces it, and
/// prunes the artifacts and reference profiles of versions the registry no longer keeps (<see cref="ArtifactRetention"/>).
/// Call under <see cref="OpenRounds.Gate"/>.
/// </summary>
public sealed class VersionCommitter(AggregatorOptions options, ModelRepository models, FederatedStrategy strategy, DriftWatch drift, FleetStores stores, FleetAnnouncer announcer, ArtifactRetention retention)
{
    /// <summary>Applies a round's aggregate to the head and publishes the result; the reference is its contributors' training sketches (of round <paramref name="roundId"/>; null: a FedBuff buffer's, of any task).</summary>
    public async Task<GlobalModel> CommitAsync(GlobalModel current, RoundAggregate aggregate, long roundNumber, string? roundId, CancellationToken cancellationToken)
    {
        drift.AdoptTraining(aggregate.ContributorIds, roundId);
        var next = current.Weights.Clone();
        strategy.Apply(next.Values, aggregate.MeanDelta);
        var model = models.Register(next, current.Record.Version, roundNumber, aggregate.Contributors, aggregate.Samples, aggregate.MeanLocalLoss);
        drift.PromoteReference(model.Record.Version, current.Record.Version);
        stores.Registry.SaveStrategyState(options.ModelName, model.Record.Version, strategy.SaveState());
        models.SetHead(model);
        await announcer.AnnounceAsync(model, cancellationToken).ConfigureAwait(false);
        Prune();
        return model;
    }

    /// <summary>Prunes what the registry no longer keeps; the monitor forgets the pruned versions' references with it.</summary>
    private void Prune()
    {
        if (retention.PruneQuietly() is { } outcome) drift.Monitor.Forget([.. outcome.Versions, .. outcome.ProfilesDropped]);
    }

    /// <summary>Registers weights trained elsewhere as the next version (the head) and publishes it.</summary>
    public async Task<GlobalModel> CommitUploadAsync(ModelWeights weights, string createdBy, string reason, CancellationToken cancellationToken, byte[]? file = null)
    {
        var current = models.Head;
        var model = models.Register(weights, current.Record.Version, round: 0, contributors: 0, samples: 0, trainLoss: null, createdBy, reason, file);
        drift.Monitor.DiscardTraining();
        drift.PromoteReference(model.Record.Version, current.Record.Version);
        models.SetHead(model);
        await announcer.AnnounceAsync(model, cancellationToken).ConfigureAwait(false);
        Prune();
        return model;
    }
}
