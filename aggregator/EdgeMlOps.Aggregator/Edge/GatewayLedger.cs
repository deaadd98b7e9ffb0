using System.Collections.Concurrent;
using EdgeMlOps.Shared;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>What one edge gateway has delivered to this aggregator (<c>GET /v1/fleet/gateways</c>).</summary>
public sealed record GatewayFigures(
    string Gateway, int DevicePatterns, long PartialsMerged, long UpdatesMerged, long BytesMerged, DateTimeOffset? LastPartialAt,
    IReadOnlyDictionary<string, long> Refused, DateTimeOffset? LastRefusedAt);

/// <summary>
/// The aggregator's view of its edge gateways, for operators watching from the centre: for every gateway it knows
/// (<c>Aggregator:Edge:Gateways</c>, also one never heard from) the partials merged and refused, by reason, and when.
/// A gateway it does not know is counted under its claimed id only if it sent something (refused as not authorized).
/// </summary>
public sealed class GatewayLedger(EdgeOptions edge)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public void Merged(string gatewayId, int updates, long bytes, DateTimeOffset at)
    {
        var entry = _entries.GetOrAdd(gatewayId, _ => new Entry());
        lock (entry)
        {
            entry.Partials++;
            entry.Updates += updates;
            entry.Bytes += bytes;
            entry.LastPartialAt = at;
        }
    }

    public void Refused(string gatewayId, RejectionReason reason, DateTimeOffset at)
    {
        var entry = _entries.GetOrAdd(gatewayId, _ => new Entry());
        lock (entry)
        {
            entry.Refused[reason.ToString()] = entry.Refused.GetValueOrDefault(reason.ToString()) + 1;
            entry.LastRefusedAt = at;
        }
    }

    /// <summary>Every configured gateway and every id something arrived from, by id.</summary>
    public IReadOnlyList<GatewayFigures> Snapshot() =>
    [
        .. edge.Gateways.Keys.Concat(_entries.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(id =>
        {
            var patterns = edge.Gateways.TryGetValue(id, out var listed) ? listed.Count : 0;
            if (!_entries.TryGetValue(id, out var entry)) return new GatewayFigures(id, patterns, 0, 0, 0, null, new Dictionary<string, long>(), null);
            lock (entry)
            {
                return new GatewayFigures(id, patterns, entry.Partials, entry.Updates, entry.Bytes, entry.LastPartialAt, new Dictionary<string, long>(entry.Refused), entry.LastRefusedAt);
            }
        }),
    ];

    private sealed class Entry
    {
        public long Partials;
        public long Updates;
        public long Bytes;
        public DateTimeOffset? LastPartialAt;
        public DateTimeOffset? LastRefusedAt;
        public readonly Dictionary<string, long> Refused = new(StringComparer.Ordinal);
    }
}
