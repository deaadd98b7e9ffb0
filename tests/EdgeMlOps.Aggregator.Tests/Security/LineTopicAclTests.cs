using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// A device's rights in the fleet's model lines (<c>edgemlops/v1/{fleet}/lines/{line}/</c>): the same as in the first
/// model's topics — its own status, update, eval and profile, its own task, the line's retained statements — plus the
/// fleet's catalogue; never another device's topics in any line, never a wildcard over the lines; and on a site's
/// broker no lines at all (gateways carry the first model only).
/// </summary>
public sealed class LineTopicAclTests
{
    private static readonly Topics Fleet = new("plant");

    private static readonly Topics Kws = Fleet.ForLine("kws");

    private static readonly TopicAcl Acl = new(Fleet);

    private static FleetIdentity Device(string id) => new(id, FleetRole.Device, "plant");

    [Fact]
    public void ADevice_HasInEveryLineTheRightsItHasInTheFirstModel_AndNoMore()
    {
        var me = Device("pump-1");
        Assert.True(Acl.MayPublish(me, Kws.Status("pump-1")));
        Assert.True(Acl.MayPublish(me, Kws.Update("pump-1")));
        Assert.True(Acl.MayPublish(me, Kws.Evaluation("pump-1")));
        Assert.True(Acl.MayPublish(me, Kws.Profile("pump-1")));
        Assert.False(Acl.MayPublish(me, Kws.Update("pump-2"))); // another device's, in a line
        Assert.False(Acl.MayPublish(me, Kws.Task("pump-1"))); // tasks come from the aggregator
        Assert.False(Acl.MayPublish(me, Kws.Model));
        Assert.False(Acl.MayPublish(me, Fleet.Catalogue));
        Assert.False(Acl.MayPublish(me, "edgemlops/v1/plant/lines/+/devices/pump-1/update"));
        Assert.False(Acl.MayPublish(me, "edgemlops/v1/plant/lines/kws/extra/devices/pump-1/update"));

        Assert.True(Acl.MaySubscribe(me, Kws.Task("pump-1")));
        Assert.False(Acl.MaySubscribe(me, Kws.Task("pump-2")));
        foreach (var retained in new[] { Kws.Model, Kws.Rollout, Kws.Trust, Kws.Timestamp, Fleet.Catalogue }) Assert.True(Acl.MaySubscribe(me, retained), retained);
        Assert.False(Acl.MaySubscribe(me, "edgemlops/v1/plant/lines/+/model")); // no wildcard over the lines
        Assert.False(Acl.MaySubscribe(me, "edgemlops/v1/plant/lines/#"));
        Assert.False(Acl.MaySubscribe(me, Kws.AllDevices("update")));
        Assert.False(Acl.MaySubscribe(new FleetIdentity("pump-1", FleetRole.Device, "other"), Kws.Task("pump-1"))); // another fleet's device
    }

    [Fact]
    public void OnASitesBroker_ThereAreNoLines()
    {
        var site = new TopicAcl(Fleet, new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["pump-*"] } }, siteGateway: "site-a");
        Assert.True(site.MayPublish(Device("pump-1"), Fleet.Status("pump-1")));
        Assert.False(site.MayPublish(Device("pump-1"), Kws.Status("pump-1")));
        Assert.False(site.MaySubscribe(Device("pump-1"), Kws.Task("pump-1")));
    }

    [Fact]
    public void LineTopics_ParseOnlyForAValidLineOfThisFleet()
    {
        Assert.True(Fleet.TryParseLine(Kws.Update("pump-1"), out var line));
        Assert.Equal("kws", line.Line);
        Assert.Equal(Kws.Prefix, line.Prefix);
        Assert.False(Fleet.TryParseLine("edgemlops/v1/plant/lines/kws", out _)); // the line, nothing below it
        Assert.False(Fleet.TryParseLine("edgemlops/v1/plant/lines/+/model", out _));
        Assert.False(Fleet.TryParseLine("edgemlops/v1/other/lines/kws/model", out _));
        Assert.False(Fleet.TryParseLine(Fleet.Update("pump-1"), out _));
        Assert.Throws<ArgumentException>(() => Fleet.ForLine("a/b"));
        Assert.Equal("plant/kws", Kws.ProtocolFleet);
        Assert.Equal("plant", Fleet.ProtocolFleet);
    }
}
