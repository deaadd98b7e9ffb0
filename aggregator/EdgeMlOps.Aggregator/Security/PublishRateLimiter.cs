using System.Collections.Concurrent;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// A token bucket per device client id: <c>burst</c> messages at once (an outbox draining after an outage),
/// then <c>perSecond</c> on average. A device beyond it is flooding the fleet.
/// </summary>
public sealed class PublishRateLimiter(double perSecond, double burst, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="clientId"/> may publish one more message now.</summary>
    public bool TryTake(string clientId)
    {
        var bucket = _buckets.GetOrAdd(clientId, static (_, state) => new Bucket(state.burst, state.now), (burst, now: time.GetTimestamp()));
        lock (bucket)
        {
            var now = time.GetTimestamp();
            bucket.Tokens = Math.Min(burst, bucket.Tokens + time.GetElapsedTime(bucket.At, now).TotalSeconds * perSecond);
            bucket.At = now;
            if (bucket.Tokens < 1) return false;
            bucket.Tokens--;
            return true;
        }
    }

    /// <summary>Forgets a client (on disconnect), so the table does not grow with every device ever seen.</summary>
    public void Forget(string clientId) => _buckets.TryRemove(clientId, out _);

    private sealed class Bucket(double tokens, long at)
    {
        public double Tokens = tokens;
        public long At = at;
    }
}
