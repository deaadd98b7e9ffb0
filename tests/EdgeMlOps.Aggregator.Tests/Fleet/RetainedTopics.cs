using System.Collections.Concurrent;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>What an in-memory broker retains: the topics a new subscriber is given a (non-empty) retained message on.</summary>
internal static class RetainedTopics
{
    /// <summary>
    /// The topics matching <paramref name="filters"/> that hold a retained message, once <paramref name="alwaysThere"/>
    /// (a topic known to be retained) has arrived — so what has not arrived by then is not retained.
    /// </summary>
    public static async Task<string[]> ReadAsync(InMemoryFleetHub hub, IReadOnlyList<string> filters, string alwaysThere)
    {
        var seen = new ConcurrentBag<string>();
        await using var reader = hub.Create(new FleetChannelOptions("retained-reader-" + Guid.NewGuid().ToString("N")) { CleanStart = true }, NullLoggerFactory.Instance);
        reader.MessageReceived = (topic, payload) =>
        {
            if (payload.Length > 0) seen.Add(topic);
            return Task.CompletedTask;
        };
        await reader.SubscribeAsync(filters, CancellationToken.None);
        await reader.ConnectAsync(CancellationToken.None);
        await Eventually.Until(() => seen.Contains(alwaysThere), $"the retained {alwaysThere} read");
        return [.. seen.Order(StringComparer.Ordinal)];
    }
}
