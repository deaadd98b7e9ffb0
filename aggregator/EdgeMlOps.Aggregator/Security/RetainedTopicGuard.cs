using System.Buffers;
using System.Collections.Concurrent;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// Remembers what the aggregator last retained on the fleet-wide topics (model announcement, rollout
/// plan) and says when something else sits there: overwritten with garbage, cleared, or an older
/// message replayed. The aggregator then publishes its own again, so new devices are not left without a
/// model until the next version. The aggregator's own earlier message echoing back shortly after a
/// newer publish is not a vandal.
/// </summary>
public sealed class RetainedTopicGuard(TimeProvider time)
{
    /// <summary>How long after a publish an echo of the previous message is expected rather than suspicious.</summary>
    public static readonly TimeSpan EchoWindow = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, (byte[] Payload, DateTimeOffset At)> _published = new(StringComparer.Ordinal);

    public byte[] Remember(string topic, byte[] payload)
    {
        _published[topic] = (payload, time.GetUtcNow());
        return payload;
    }

    /// <summary>What the aggregator last retained, by topic (to put back after a broker lost its retained messages).</summary>
    public IReadOnlyList<(string Topic, byte[] Payload)> Remembered() => _published.Select(p => (p.Key, p.Value.Payload)).ToArray();

    /// <summary>The aggregator's message to publish again when <paramref name="payload"/> on <paramref name="topic"/> is not it; null otherwise.</summary>
    public byte[]? Restoration(string topic, ReadOnlySequence<byte> payload)
    {
        if (!_published.TryGetValue(topic, out var ours)) return null;
        if (payload.Length == ours.Payload.Length && payload.ToArray().AsSpan().SequenceEqual(ours.Payload)) return null;
        return time.GetUtcNow() - ours.At < EchoWindow ? null : ours.Payload;
    }
}
