using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>Who may do what on a region's broker (a gateway of gateways): its own devices, the site gateways it lists below it, nobody else.</summary>
public sealed class TopicAclTests
{
    private static readonly Topics Topics = new("test");

    private static readonly TopicAcl Region = new(Topics, new EdgeOptions
    {
        Gateways = new Dictionary<string, IReadOnlyList<string>> { ["region-1"] = ["dev-*"], ["site-a"] = ["dev-a*", "pump-7"] },
    }, siteGateway: "region-1");

    private static FleetIdentity Gateway(string id) => new(id, FleetRole.Gateway, "test");

    [Fact]
    public void AGatewayBelowTheRegion_ConnectsWithItsGatewayClientId_AnUnlistedGatewayDoesNot()
    {
        Assert.True(Region.MayConnectAs(Gateway("site-a"), FleetIdentity.GatewayClientId("site-a")));
        Assert.Null(Region.NotOfThisSite(Gateway("site-a")));
        Assert.False(Region.MayConnectAs(Gateway("site-a"), TopicAcl.SiteGatewayClientId("site-a"))); // not as the broker's aggregator
        Assert.False(Region.MayConnectAs(Gateway("site-b"), FleetIdentity.GatewayClientId("site-b")));
        Assert.Contains("not a gateway below 'region-1'", Region.NotOfThisSite(Gateway("site-b")), StringComparison.Ordinal);
        Assert.True(Region.MayConnectAs(Gateway("region-1"), TopicAcl.SiteGatewayClientId("region-1"))); // the region itself, as before
    }

    [Fact]
    public void AGatewayBelow_SpeaksOnlyForDevicesItAndTheRegionBothServe()
    {
        var site = Gateway("site-a");
        Assert.True(Region.MayPublish(site, Topics.GatewayPartial("site-a")));
        Assert.False(Region.MayPublish(site, Topics.GatewayPartial("region-1"))); // not in the region's name
        Assert.True(Region.MayPublish(site, Topics.Status("dev-a1")));
        Assert.False(Region.MayPublish(site, Topics.Status("pump-7"))); // the site lists it, the region does not serve it
        Assert.False(Region.MayPublish(site, Topics.Status("dev-b1"))); // the region serves it, the site does not
        Assert.False(Region.MayPublish(site, Topics.Update("dev-a1"))); // updates are folded at the site, never relayed
        Assert.True(Region.MaySubscribe(site, Topics.Task("dev-a1")));
        Assert.False(Region.MaySubscribe(site, Topics.Task("pump-7")));
        Assert.True(Region.MaySubscribe(site, Topics.Revocations));
        Assert.False(Region.MaySubscribe(site, Topics.AllDevices("update")));
    }
}
