using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The artifacts (by sha256) a relayed statement names: a model announcement's signed manifest, a rollout plan's target
/// and previous manifests — what the site's devices will download next, so a gateway can fetch them ahead of an outage.
/// Reading only: the signatures are the devices' to check (a hash names content, fetching it changes nothing).
/// </summary>
public static class ManifestArtifacts
{
    /// <summary>The sha256s named by a model announcement (<paramref name="isModel"/>) or a signed rollout plan, none for anything unreadable.</summary>
    public static IReadOnlyList<string> Named(bool isModel, ReadOnlySpan<byte> payload)
    {
        try
        {
            IEnumerable<Signed?> manifests = isModel
                ? [ModelAnnouncement.Parser.ParseFrom(payload).Manifest]
                : RolloutPlan.Parser.ParseFrom(Signed.Parser.ParseFrom(payload).Body) is { } plan ? [plan.TargetManifest, plan.PreviousManifest] : [];
            return manifests.OfType<Signed>()
                .SelectMany(m => ModelManifest.Parser.ParseFrom(m.Body).Artifacts)
                .Select(a => a.Sha256)
                .Where(ContentHash.IsSha256Hex)
                .Distinct(StringComparer.Ordinal)
                .ToArray();
        }
        catch (InvalidProtocolBufferException)
        {
            return [];
        }
    }
}
