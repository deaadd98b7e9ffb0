using EdgeMlOps.Aggregator.Fleet;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

public sealed class SeenMessagesTests
{
    [Fact]
    public void AnIdIsNewOnce_AndStillKnownAfterReopening()
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "messages.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using (var seen = new SeenMessages(path, clock))
        {
            Assert.True(seen.TryAdd("dev-1", "m-1"));
            Assert.False(seen.TryAdd("dev-1", "m-1"));
        }

        using var reopened = new SeenMessages(path, clock);
        Assert.False(reopened.TryAdd("dev-1", "m-1"));
        Assert.True(reopened.TryAdd("dev-1", "m-2"));
    }

    [Fact]
    public void IdsAreScopedBySender_SoNoDeviceCanSpendAnothersIds()
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "messages.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var seen = new SeenMessages(path, TimeProvider.System);
        Assert.True(seen.TryAdd("mallory", "honest:1:2:3"));
        Assert.True(seen.TryAdd("honest", "honest:1:2:3"));
    }

    [Fact]
    public void IdsOlderThanTheRetention_ArePrunedAtStart()
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "messages.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using (var seen = new SeenMessages(path, clock)) seen.TryAdd("dev-1", "old");
        clock.Advance(SeenMessages.Retention + TimeSpan.FromHours(1));
        using (var seen = new SeenMessages(path, clock))
        {
            seen.TryAdd("dev-1", "new");
            Assert.Equal(1, seen.Count);
        }
    }
}
