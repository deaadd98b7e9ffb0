using EdgeMlOps.Aggregator.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The leader lease on both engines: one holder at a time, a higher fencing token for every new one, a stale holder refused.</summary>
public sealed class LeaderLeaseTests
{
    private static readonly TimeSpan Term = TimeSpan.FromSeconds(10);

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void OneHolderAtATime_AnExpiredLeaseGoesToTheNext_WithAHigherToken_AndTheOldHolderIsFenced(string engine)
    {
        using var stores = new TestStores(engine);
        using var other = stores.Reopen();
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000));
        using var a = new LeaderLease(stores.Databases.Open("leases.db", durable: true), clock);
        using var b = new LeaderLease(other.Open("leases.db", durable: true), clock);

        var first = a.TryAcquire("leader", "a", Term)!;
        Assert.Equal(1, first.Token);
        Assert.Null(b.TryAcquire("leader", "b", Term));
        Assert.Equal("a", b.Current("leader")!.Holder);

        clock.Advance(Term / 2);
        first = a.Renew(first, Term)!;
        clock.Advance(Term * 0.9);
        Assert.Null(b.TryAcquire("leader", "b", Term)); // renewed: still a's

        clock.Advance(Term * 0.2); // a stalled past its term
        var second = b.TryAcquire("leader", "b", Term)!;
        Assert.Equal(2, second.Token);
        Assert.Null(a.Renew(first, Term)); // fenced: a must stop
        a.Release(first); // and its late release does not free b's lease
        Assert.Equal(("b", 2L), (a.Current("leader")!.Holder, a.Current("leader")!.Token));

        b.Release(second); // a clean stop hands over at once
        Assert.Equal(3, a.TryAcquire("leader", "a", Term)!.Token);
    }

    [Fact]
    public async Task AStandby_TakesOverWhenTheLeaderStops_AndALeaderWhoseLeaseIsTaken_IsToldItLostIt()
    {
        using var stores = new TestStores("postgresql");
        using var other = stores.Reopen();
        // Renewed every two seconds: room for a busy machine's pauses (a 3 s term once lapsed in CI while other tests held
        // the machine — the standby then rightly took the lease).
        var term = TimeSpan.FromSeconds(6);
        var leader = new LeaderGate(new LeaderLease(stores.Databases.Open("leases.db", durable: true), TimeProvider.System), term, TimeProvider.System, NullLogger.Instance);
        await leader.AcquireAsync(CancellationToken.None);
        await using var standby = new LeaderGate(new LeaderLease(other.Open("leases.db", durable: true), TimeProvider.System), term, TimeProvider.System, NullLogger.Instance);
        var waiting = standby.AcquireAsync(CancellationToken.None);
        await Task.Delay(term * 1.5);
        Assert.False(waiting.IsCompleted, "the standby took the lease while the leader renewed it");

        await leader.DisposeAsync(); // a clean stop releases
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, standby.Held!.Token);

        // Someone takes the lease from under the standby (it stalled; the lease expired): it learns at its next renewal.
        using (var database = stores.Databases.Open("leases.db", durable: true))
        using (var session = database.Open())
        {
            session.Execute("UPDATE leases SET holder = 'usurper', token = token + 1");
        }

        await standby.Lost.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void AReplacedLeader_CannotWriteAVersion_TheNewLeaderCan(string engine)
    {
        using var stores = new TestStores(engine);
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000));
        using var leases = new LeaderLease(stores.Databases.Open("registry.db", durable: true), clock);
        using var registry = new Aggregator.Registry.ModelRegistry(stores.Databases.Open("registry.db", durable: true));
        registry.AddModel("m", "mlp-4-3", clock.GetUtcNow());
        Aggregator.Registry.ModelVersionRecord Version(ulong v) => VersionOf("m", v, clock);

        registry.Fence = leases.TryAcquire(LeaderGate.LeaseName, "old", Term);
        registry.AddVersion(Version(1));
        clock.Advance(Term * 2); // the old leader stalls; the standby takes over
        var successor = leases.TryAcquire(LeaderGate.LeaseName, "new", Term)!;

        var fenced = Assert.Throws<StoreException>(() => registry.AddVersion(Version(2)));
        Assert.Contains("fenced", fenced.Message, StringComparison.Ordinal);
        Assert.Equal([1UL], registry.Versions("m").Select(v => v.Version));
        registry.Fence = successor;
        registry.AddVersion(Version(2));
        Assert.Equal([1UL, 2UL], registry.Versions("m").Select(v => v.Version));
    }
    /// <summary>
    /// A model line keeps its versions in a store of its own (a SQLite file under <c>lines/NAME</c>, a schema of its own on
    /// PostgreSQL), but runs in the leader's process: a leader replaced while it stalled must not write a line's version
    /// either. The line's registry checks the fleet's lease in its own transaction.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void AReplacedLeader_CannotWriteALinesVersion_EitherInTheLinesOwnStore(string engine)
    {
        using var stores = new TestStores(engine);
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000));
        using var leases = new LeaderLease(stores.Databases.Open("registry.db", durable: true), clock);
        using var fleet = new Aggregator.Registry.ModelRegistry(stores.Databases.Open("registry.db", durable: true));
        var lineDirectory = Path.Combine(stores.Directory, "lines", "kws");
        Directory.CreateDirectory(lineDirectory);
        using var lineStores = new StoreDatabases(stores.Options.ForLine("kws"), lineDirectory);
        using var line = new Aggregator.Registry.ModelRegistry(lineStores.Open("registry.db", durable: true));
        line.AddModel("kws", "mlp-4-3", clock.GetUtcNow());
        Aggregator.Registry.ModelVersionRecord Version(ulong v) => VersionOf("kws", v, clock);

        fleet.Fence = leases.TryAcquire(LeaderGate.LeaseName, "old", Term);
        line.FenceWith(fleet);
        line.AddVersion(Version(1));
        clock.Advance(Term * 2); // the old leader stalls; the standby takes over
        var successor = leases.TryAcquire(LeaderGate.LeaseName, "new", Term)!;

        var fenced = Assert.Throws<StoreException>(() => line.AddVersion(Version(2)));
        Assert.Contains("fenced", fenced.Message, StringComparison.Ordinal);
        Assert.Equal([1UL], line.Versions("kws").Select(v => v.Version));
        fleet.Fence = successor;
        line.FenceWith(fleet);
        line.AddVersion(Version(2));
        Assert.Equal([1UL, 2UL], line.Versions("kws").Select(v => v.Version));
    }

    private static Aggregator.Registry.ModelVersionRecord VersionOf(string model, ulong v, TimeProvider clock) =>
        new(model, v, v - 1, (long)v, 1, 1, "i", 1, "t", 1, null, null, null, clock.GetUtcNow());
}
