using System.Buffers;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Models;

/// <summary>
/// TUF's timestamp role on the device: the newest verified freshness statement, and the sha256 of the last payload
/// received on each retained topic it names. The device is fresh until the statement expires — or, when the statement
/// names a payload the device has not received, only for a short grace after it noticed (a quarter of the statement's
/// lifetime, at most a minute, for the named message still in flight). Past that it reports itself behind: the fleet's
/// statements are being withheld from it (a freeze), or its link is broken. Without any statement (an aggregator from
/// before the timestamp role) the manifests' own expiry decides.
/// </summary>
public sealed class FreshnessTracker(IReadOnlyCollection<string> watchedTopics, TrustGate trust)
{
    private static readonly TimeSpan MaxGrace = TimeSpan.FromMinutes(1);
    private readonly HashSet<string> _watched = new(watchedTopics, StringComparer.Ordinal);
    private readonly Dictionary<string, string> _received = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private FreshnessStatement? _held;
    private long _lackingSinceMs;
    private long _reportedMs;

    /// <summary>True for a topic whose payloads statements vouch for.</summary>
    public bool Watches(string topic) => _watched.Contains(topic);

    /// <summary>Remembers what arrived on a watched retained topic (whatever the device then made of it); true when the aggregator should hear the change.</summary>
    public bool Received(string topic, ReadOnlySequence<byte> payload, long nowUnixMs)
    {
        var sha = ContentHash.Sha256Hex(payload.ToArray());
        lock (_gate)
        {
            _received[topic] = sha;
            Reassess(nowUnixMs);
            return NeedsReportLocked();
        }
    }

    /// <summary>
    /// Verifies and holds a newer statement; a forged, expired or replayed one is counted by the trust gate. True when
    /// the aggregator should hear of it: a refusal, or a freshness that moved far from the one last reported.
    /// </summary>
    public bool Offer(Signed envelope, long nowUnixMs)
    {
        if (trust.BundleVersion == 0) return false; // nothing to judge it by yet; the refused bundle is what gets reported
        if (trust.CheckFreshness(envelope, nowUnixMs) is not { } statement) return true;
        if (!Hold(statement, nowUnixMs))
        {
            trust.Reject($"freshness statement issued {EdgeMlOps.Shared.Protocol.WireTime.Describe(statement.IssuedUnixMs)} is not newer than the one held (replay?)");
            return true;
        }

        lock (_gate) return NeedsReportLocked();
    }

    /// <summary>The freshness to put in a status message (see <see cref="FreshUntilUnixMs"/>), remembered as reported.</summary>
    public long Report(long fallbackUnixMs)
    {
        lock (_gate) return _reportedMs = FreshUntilUnixMs(fallbackUnixMs);
    }

    /// <summary>Takes a verified statement; false (a replay) when it was not issued after the one held.</summary>
    public bool Hold(FreshnessStatement statement, long nowUnixMs)
    {
        lock (_gate)
        {
            if (_held is { } held && statement.Equals(held)) return true; // the retained statement again (a reconnection)
            if (_held is { } older && statement.IssuedUnixMs <= older.IssuedUnixMs) return false;
            _held = statement;
            Reassess(nowUnixMs);
            return true;
        }
    }

    /// <summary>Topics whose named payload the device has not received (empty when none, or without a statement).</summary>
    public IReadOnlyList<string> Lacking
    {
        get
        {
            lock (_gate) return LackingLocked();
        }
    }

    /// <summary>Until when the device knows it hears the fleet's latest statements (Unix ms), or <paramref name="fallbackUnixMs"/> without a statement.</summary>
    public long FreshUntilUnixMs(long fallbackUnixMs)
    {
        lock (_gate)
        {
            if (_held is not { } held) return fallbackUnixMs;
            if (_lackingSinceMs == 0) return held.ExpiresUnixMs;
            var grace = Math.Min((long)MaxGrace.TotalMilliseconds, Math.Max(0, held.ExpiresUnixMs - held.IssuedUnixMs) / 4);
            return Math.Min(held.ExpiresUnixMs, _lackingSinceMs + grace);
        }
    }

    /// <summary>
    /// A status is due when freshness fell below what was reported (something is missing) or rose half a lifetime past it:
    /// statements come every quarter lifetime, so the aggregator's copy stays ahead of its clock without a status per
    /// statement (a burst of new versions sends none).
    /// </summary>
    private bool NeedsReportLocked()
    {
        if (_held is not { } held) return false;
        var now = FreshUntilUnixMs(0);
        return now < _reportedMs || now - _reportedMs >= (held.ExpiresUnixMs - held.IssuedUnixMs) / 2;
    }

    private List<string> LackingLocked() =>
        _held is null ? [] : [.. _held.Statements.Where(d => _watched.Contains(d.Topic) && (!_received.TryGetValue(d.Topic, out var sha) || sha != d.Sha256)).Select(d => d.Topic)];

    private void Reassess(long nowUnixMs)
    {
        if (LackingLocked().Count == 0) _lackingSinceMs = 0;
        else if (_lackingSinceMs == 0) _lackingSinceMs = Math.Max(1, nowUnixMs);
    }
}
