using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// TUF's timestamp role on the aggregator: signed, short-lived statements naming by sha256 every retained statement the
/// aggregator stands behind (announcement, trust bundle, rollout plan). Issue times strictly increase
/// (<see cref="Trust.StatementClock"/>), so a device can refuse a replayed statement; the lifetime bounds how long a
/// freeze goes unnoticed.
/// </summary>
public sealed class FleetTimestamps(Topics topics, Trust.KeyRing keys, TimeSpan lifetime, Trust.StatementClock issued)
{
    /// <summary>The retained topic statements go to.</summary>
    public string Topic { get; } = topics.Timestamp;

    /// <summary>How often a statement is issued even when nothing changed: a quarter of its lifetime (1 s to 6 h).</summary>
    public TimeSpan Period => TimeSpan.FromTicks(Math.Clamp(lifetime.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromHours(6).Ticks));

    /// <summary>A signed statement naming <paramref name="retained"/> (topic and exact payload), issued now.</summary>
    public byte[] Vouch(IEnumerable<(string Topic, byte[] Payload)> retained)
    {
        var at = issued.Next();
        var statement = new FreshnessStatement { Fleet = topics.ProtocolFleet, IssuedUnixMs = at, ExpiresUnixMs = at + (long)lifetime.TotalMilliseconds };
        foreach (var (topic, payload) in retained.Where(r => r.Topic != Topic).OrderBy(r => r.Topic, StringComparer.Ordinal))
        {
            statement.Statements.Add(new RetainedDigest { Topic = topic, Sha256 = ContentHash.Sha256Hex(payload) });
        }

        return keys.SignFreshness(statement).ToByteArray();
    }
}
