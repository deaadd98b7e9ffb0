using System.Text.Json;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Http;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Http;

/// <summary>
/// The console sent itself the whole fleet every five seconds and filtered it in the browser: 20 MB a refresh at
/// 100,000 devices. The server now filters, pages and counts.
/// </summary>
public sealed class FleetDevicesViewTests
{
    private static readonly DeviceInfo[] Fleet = [.. Enumerable.Range(0, 2500).Select(i => new DeviceInfo(
        $"dev-{i:D5}", i % 4 == 0 ? DeviceState.Offline : DeviceState.Online, "digits", (ulong)(i % 3 + 1), 10,
        new Dictionary<string, string> { ["hw"] = i % 2 == 0 ? "pi4" : "jetson" }, DateTimeOffset.UnixEpoch, 1)).Reverse()];

    [Fact]
    public void Devices_ComeByIdAPageAtATime_FilteredOnTheServer_AsTheConsolesBoxMatched()
    {
        var first = Ids(FleetDevicesView.Page(Fleet, null, null, null));
        Assert.Equal((ApiPage.DefaultSize, "dev-00000", "dev-00999"), (first.Length, first[0], first[^1]));
        Assert.Equal(["dev-01000", "dev-01001"], Ids(FleetDevicesView.Page(Fleet, null, 2, after: first[^1])));
        Assert.Empty(FleetDevicesView.Page(Fleet, null, 10, after: "dev-02499"));

        Assert.All(Ids(FleetDevicesView.Page(Fleet, "HW=JETSON", 5000, null)), id => Assert.True(int.Parse(id[4..], System.Globalization.CultureInfo.InvariantCulture) % 2 == 1));
        Assert.Equal(["dev-00002", "dev-00005"], Ids(FleetDevicesView.Page(Fleet, "v3", 2, null))); // the version as the table writes it
        Assert.Equal(["dev-00000"], Ids(FleetDevicesView.Page(Fleet, "offline", 1, null)));
    }

    [Fact]
    public void TheSummary_CountsTheWholeFleet_AndWhatTheFilterMatches()
    {
        var summary = JsonSerializer.SerializeToElement(FleetDevicesView.Summary(Fleet, "pi4"), new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Equal((2500, 1875, 3, 1250), (summary.GetProperty("devices").GetInt32(), summary.GetProperty("online").GetInt32(), summary.GetProperty("versionsServed").GetInt32(), summary.GetProperty("matching").GetInt32()));
    }

    private static string[] Ids(IReadOnlyList<object> page) =>
        [.. page.Select(d => JsonSerializer.SerializeToElement(d, new JsonSerializerOptions(JsonSerializerDefaults.Web)).GetProperty("deviceId").GetString()!)];
}
