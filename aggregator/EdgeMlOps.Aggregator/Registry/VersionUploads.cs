using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Versions trained elsewhere (a data scientist's upload): checked against the fleet's model, registered as the next
/// version under the round gate (never in the middle of a round), put through the same gates, and recorded with
/// their creator — who can then never approve them.
/// </summary>
public sealed class VersionUploads(AggregatorOptions options, ModelRegistry registry, OpenRounds open, VersionCommitter committer)
{
    /// <summary>
    /// Registers the next version; for an uploaded graph <paramref name="file"/> is the admitted file itself, served byte
    /// for byte (a model served by tensor names: a new file with the same interface; one the fleet trains: the same
    /// graph with new trained values).
    /// </summary>
    public async Task<ModelVersionRecord> RegisterAsync(ModelWeights weights, string createdBy, string reason, CancellationToken cancellationToken, byte[]? file = null)
    {
        if (!weights.Spec.Equals(options.Model)) throw new ArgumentException($"model is {weights.Spec}; this fleet's model is {options.Model}");
        if (Array.Exists(weights.Values, v => !float.IsFinite(v))) throw new ArgumentException("model weights contain non-finite values");
        await open.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var model = await committer.CommitUploadAsync(weights, createdBy, reason, cancellationToken, file).ConfigureAwait(false);
            return registry.Version(model.Record.Model, model.Record.Version) ?? model.Record;
        }
        finally
        {
            open.Gate.Release();
        }
    }
}
