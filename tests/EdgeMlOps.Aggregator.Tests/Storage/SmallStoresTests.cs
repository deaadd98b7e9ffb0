using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Security;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The message-id and security stores' contracts on both engines, including two replicas sharing one database.</summary>
public sealed class SmallStoresTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void SeenIds_AreNewOncePerSender_AcrossRestarts_AndAgeOut(string engine)
    {
        using var stores = new TestStores(engine);
        var clock = new FakeTimeProvider(T0);
        using (var seen = new SeenMessages(stores.Databases.Open("messages.db", durable: false), clock))
        {
            Assert.True(seen.TryAdd("dev-1", "m-1"));
            Assert.False(seen.TryAdd("dev-1", "m-1"));
            Assert.True(seen.TryAdd("dev-2", "m-1"));
        }

        clock.Advance(SeenMessages.Retention + TimeSpan.FromMinutes(1));
        using var reopened = stores.Reopen();
        using var again = new SeenMessages(reopened.Open("messages.db", durable: false), clock);
        Assert.Equal(0, again.Count);
        Assert.True(again.TryAdd("dev-1", "m-2"));
        Assert.Equal(1, again.Count);
    }

    [Fact]
    public async Task TwoReplicasOnOnePostgreSql_CountEachMessageExactlyOnce()
    {
        using var stores = new TestStores("postgresql");
        using var other = stores.Reopen();
        using var first = new SeenMessages(stores.Databases.Open("messages.db", durable: false), TimeProvider.System);
        using var second = new SeenMessages(other.Open("messages.db", durable: false), TimeProvider.System);
        var ids = Enumerable.Range(0, 300).Select(i => $"m-{i}").ToArray();
        var accepted = await Task.WhenAll(
            Task.Run(() => ids.Count(id => first.TryAdd("dev", id))),
            Task.Run(() => ids.Count(id => second.TryAdd("dev", id))));
        Assert.Equal(ids.Length, accepted.Sum());
        Assert.Equal(ids.Length, first.Count);
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void Security_TokensCertificatesRevocationsAndEvents_RoundTrip(string engine)
    {
        using var stores = new TestStores(engine);
        using var store = new SecurityStore(stores.Databases.Open("security.db", durable: true), stores.Databases.Open("security.events.db", durable: false));
        store.AddToken("h1", null, T0.AddHours(1), 2, T0, "alice");
        store.AddToken("h2", "dev-9", T0.AddHours(1), 1, T0, "alice");
        Assert.True(store.TrySpendToken("h1", "dev-1", T0));
        Assert.True(store.TrySpendToken("h1", "dev-2", T0));
        Assert.False(store.TrySpendToken("h1", "dev-3", T0));               // used up
        Assert.False(store.TrySpendToken("h2", "dev-1", T0));               // bound to another device
        Assert.False(store.TrySpendToken("h2", "dev-9", T0.AddHours(2)));   // expired
        Assert.True(store.TrySpendToken("h2", "dev-9", T0));

        store.RecordCertificate("dev-1", "01", T0.AddDays(7), T0, "k1");
        store.RecordCertificate("dev-1", "02", T0.AddDays(14), T0.AddDays(7), "k2");
        store.RecordCertificate("dev-2", "03", T0.AddDays(7), T0, "k3");
        Assert.True(store.HasLiveCertificate("dev-1", T0.AddDays(10)));
        Assert.False(store.HasLiveCertificate("dev-2", T0.AddDays(10)));
        Assert.True(store.HasLiveCertificateFor("dev-1", "k2", T0.AddDays(10)));
        Assert.False(store.HasLiveCertificateFor("dev-1", "k1", T0.AddDays(10))); // that certificate has expired
        Assert.False(store.HasLiveCertificateFor("dev-1", "k3", T0));             // another device's key
        store.Revoke("dev-2", "stolen", "bob", T0.AddDays(1));
        store.Revoke("dev-2", "stolen, confirmed", "bob", T0.AddDays(2));
        Assert.Equal(["dev-2"], store.RevokedDevices());
        Assert.Equal(["03"], store.RevokedSerials());
        var devices = store.Devices();
        Assert.Equal(["dev-1", "dev-2"], devices.Select(d => d.DeviceId));
        Assert.Equal(("02", T0.AddDays(14), (string?)null), (devices[0].Serial, devices[0].NotAfter, devices[0].RevocationReason));
        Assert.Equal(("stolen, confirmed", (DateTimeOffset?)T0.AddDays(2)), (devices[1].RevocationReason, devices[1].RevokedAt));
        Assert.Equal(["dev-1"], store.Devices(limit: 1).Select(d => d.DeviceId)); // a page by id, each device once (its newest certificate)
        Assert.Equal(["dev-2"], store.Devices(limit: 5, after: "dev-1").Select(d => d.DeviceId));

        for (var i = 0; i < 1_000; i++) store.AppendEvent(T0.AddSeconds(i), SecurityEventKind.ConnectionRefused, $"client-{i}", "no certificate");
        store.AppendEvent(T0.AddHours(1), SecurityEventKind.DeviceRevoked, "dev-2", "stolen");
        var recent = store.RecentEvents(3);
        Assert.Equal([SecurityEventKind.DeviceRevoked, SecurityEventKind.ConnectionRefused, SecurityEventKind.ConnectionRefused], recent.Select(e => e.Kind));
        Assert.Equal("client-999", recent[1].Subject);
        Assert.True(recent[0].Id > recent[1].Id);
    }
}
