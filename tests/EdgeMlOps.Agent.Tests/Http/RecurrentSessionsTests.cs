using EdgeMlOps.Agent.Serving;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>The recurrent sessions stay bounded: idle ones start again from zeros, and the least recently used goes first at the cap.</summary>
public class RecurrentSessionsTests
{
    [Fact]
    public void AnIdleSession_StartsAgain_AndTheCapDropsTheLeastRecentlyUsed()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-03T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var sessions = new RecurrentSessions(clock);
        var first = sessions.Enter("mic-1");
        first.Version = 3;
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Same(first, sessions.Enter("mic-1")); // within the idle timeout: the same state

        clock.Advance(RecurrentSessions.IdleTimeout + TimeSpan.FromSeconds(1));
        var again = sessions.Enter("mic-1");
        Assert.NotSame(first, again);
        Assert.Equal(0UL, again.Version); // a fresh session: its state starts from zeros
        Assert.Equal(1, sessions.Evicted);

        for (var i = 0; i < RecurrentSessions.MaxSessions; i++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(1));
            sessions.Enter($"s-{i}");
        }

        Assert.Equal(RecurrentSessions.MaxSessions, sessions.Count);
        Assert.Equal(2, sessions.Evicted); // mic-1, the least recently used, made room for the last
        Assert.NotSame(again, sessions.Enter("mic-1"));
    }
}
