using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Edge;

public class EdgePartialCheckTests
{
    private static readonly EdgeOptions Edge = new() { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*", "pump-7"] } };

    private static EdgePartial Partial(string sender = "site-a", params string[] devices)
    {
        var share = new PartialAggregate { RoundId = "r1", Replica = sender, Count = (uint)devices.Length, TotalWeight = 10 * devices.Length };
        share.Sum.AddRange([0.5, -0.25]);
        foreach (var d in devices) share.Contributors.Add(new PartialContributor { DeviceId = d, Samples = 10 });
        return new EdgePartial { Header = ProtocolInfo.NewHeader("test", sender, 1, 0), ModelName = "tiny", BaseVersion = 1, Share = share };
    }

    [Fact]
    public void APartialOfTheGatewaysOwnDevices_Passes()
    {
        Assert.True(EdgePartialCheck.Check("site-a", Partial("site-a", "dev-a1", "dev-a2", "pump-7"), Edge).Accepted);
    }

    [Fact]
    public void APartialNamingARevokedDevice_IsRefused()
    {
        Assert.Equal(RejectionReason.NotAuthorized, EdgePartialCheck.Check("site-a", Partial("site-a", "dev-a1", "dev-a2"), Edge, id => id == "dev-a2").Reason);
    }

    [Theory]
    [InlineData("site-b", "site-b", "dev-a1", RejectionReason.NotAuthorized)] // not a gateway of this fleet
    [InlineData("site-a", "site-b", "dev-a1", RejectionReason.Malformed)] // sender is not the topic's gateway
    [InlineData("site-a", "site-a", "dev-b1", RejectionReason.NotAuthorized)] // another site's device
    [InlineData("site-a", "site-a", "pump-70", RejectionReason.NotAuthorized)] // an exact id is not a prefix
    public void APartialNamingWhatTheGatewayDoesNotServe_IsRefused(string topicGateway, string sender, string device, RejectionReason reason)
    {
        Assert.Equal(reason, EdgePartialCheck.Check(topicGateway, Partial(sender, device), Edge).Reason);
    }

    [Fact]
    public void AnImpossiblePartial_IsRefusedWithItsReason()
    {
        var twice = Partial("site-a", "dev-a1", "dev-a1");
        Assert.Equal(RejectionReason.Duplicate, EdgePartialCheck.Check("site-a", twice, Edge).Reason);

        var miscounted = Partial("site-a", "dev-a1");
        miscounted.Share.Count = 5;
        Assert.Equal(RejectionReason.Malformed, EdgePartialCheck.Check("site-a", miscounted, Edge).Reason);

        var nan = Partial("site-a", "dev-a1");
        nan.Share.Sum[1] = double.NaN;
        Assert.Equal(RejectionReason.NonFinite, EdgePartialCheck.Check("site-a", nan, Edge).Reason);

        var weightless = Partial("site-a", "dev-a1");
        weightless.Share.TotalWeight = 0;
        Assert.Equal(RejectionReason.Malformed, EdgePartialCheck.Check("site-a", weightless, Edge).Reason);

        var noSamples = Partial("site-a", "dev-a1");
        noSamples.Share.Contributors[0].Samples = 0;
        Assert.Equal(RejectionReason.BadSampleCount, EdgePartialCheck.Check("site-a", noSamples, Edge).Reason);

        var headerless = Partial("site-a", "dev-a1");
        headerless.Header = null;
        Assert.Equal(RejectionReason.Malformed, EdgePartialCheck.Check("site-a", headerless, Edge).Reason);
    }

    [Fact]
    public void EdgeOptions_ReadFromTheAggregatorsConfiguration_AndTheirProblemsAreNamed()
    {
        static AggregatorOptions Read(string gateway, string devices) => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"Aggregator:Edge:Gateways:{gateway}"] = devices,
            ["Aggregator:Edge:FlushBeforeSeconds"] = "10",
        }).Build());

        var edge = Read("site-a", "dev-a*, pump-7").Edge;
        Assert.Equal(["dev-a*", "pump-7"], edge.Gateways["site-a"]);
        Assert.Equal(TimeSpan.FromSeconds(10), edge.FlushBefore);
        Assert.True(edge.Serves("site-a", "dev-a9") && !edge.Serves("site-b", "dev-a9"));

        var errors = Assert.Throws<OptionsValidationException>(() => Read("site-c", "*")).Errors;
        Assert.Contains(errors, e => e.Contains("Edge:Gateways:site-c", StringComparison.Ordinal) && e.Contains("'*'", StringComparison.Ordinal));
        var wrong = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site/x"] = ["a"], ["site-c"] = [] } };
        Assert.Equal(2, wrong.Problems().Count());
    }
}
