using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// A device's rights in the fleet's model lines (<c>edgemlops/v1/{fleet}/lines/{line}/</c>): the same as in the first
/// model's topics — its own status, update, eval and profile, its own task, the line's retained statements — plus the
/// fleet's catalogue; never another device's topics in any line, never a wildcard over the lines — on a site's broker as
/// on the fleet's. A gateway relays its devices' line messages (updates one by one, or its own partials of a line it
/// folds) and reads their line tasks.
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
    public void OnASitesBroker_ADeviceHasItsRightsInEveryLine_AsOnTheFleets()
    {
        var site = new TopicAcl(Fleet, new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["pump-*"] } }, siteGateway: "site-a");
        Assert.True(site.MayPublish(Device("pump-1"), Fleet.Status("pump-1")));
        Assert.True(site.MayPublish(Device("pump-1"), Kws.Status("pump-1")));
        Assert.True(site.MayPublish(Device("pump-1"), Kws.Update("pump-1")));
        Assert.False(site.MayPublish(Device("pump-1"), Kws.Update("pump-2")));
        Assert.True(site.MaySubscribe(Device("pump-1"), Kws.Task("pump-1")));
        Assert.True(site.MaySubscribe(Device("pump-1"), Kws.Model));
        Assert.False(site.MaySubscribe(Device("pump-1"), Kws.Task("pump-2")));
    }

    [Fact]
    public void AGateway_RelaysItsDevicesLineMessagesUpdatesIncluded_AndReadsTheirLineTasks_ForNoOtherDevice()
    {
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["pump-*"] } };
        var acl = new TopicAcl(Fleet, edge);
        var gateway = new FleetIdentity("site-a", FleetRole.Gateway, "plant");
        foreach (var kind in new[] { "status", "update", "eval", "profile" }) Assert.True(acl.MayPublish(gateway, $"{Kws.Prefix}/devices/pump-1/{kind}"), kind);
        Assert.False(acl.MayPublish(gateway, Fleet.Update("pump-1"))); // the first model's updates go up in partials only
        Assert.False(acl.MayPublish(gateway, Kws.Update("valve-1"))); // not one of its devices
        Assert.False(acl.MayPublish(gateway, Kws.Task("pump-1")));
        Assert.False(acl.MayPublish(gateway, Kws.Model));
        Assert.True(acl.MayPublish(gateway, Kws.GatewayPartial("site-a"))); // a line it folds
        Assert.False(acl.MayPublish(gateway, Kws.GatewayPartial("site-b")));
        Assert.False(acl.MayPublish(gateway, "edgemlops/v1/plant/lines/+/devices/pump-1/update"));

        Assert.True(acl.MaySubscribe(gateway, Fleet.Catalogue));
        foreach (var retained in new[] { Kws.Model, Kws.Rollout, Kws.Trust, Kws.Timestamp }) Assert.True(acl.MaySubscribe(gateway, retained), retained);
        Assert.True(acl.MaySubscribe(gateway, Kws.Task("pump-1")));
        Assert.False(acl.MaySubscribe(gateway, Kws.Task("valve-1")));
        Assert.False(acl.MaySubscribe(gateway, Kws.AllDevices("update")));
        Assert.False(acl.MaySubscribe(gateway, "edgemlops/v1/plant/lines/+/model"));

        // A gateway below a region: the same, for the devices both serve.
        var region = new TopicAcl(Fleet, new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["region-1"] = ["pump-*"], ["site-b"] = ["pump-2", "valve-1"] } }, siteGateway: "region-1");
        var below = new FleetIdentity("site-b", FleetRole.Gateway, "plant");
        Assert.True(region.MayPublish(below, Kws.Update("pump-2")));
        Assert.False(region.MayPublish(below, Kws.Update("valve-1"))); // the region does not serve it
        Assert.True(region.MaySubscribe(below, Kws.Task("pump-2")));
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
