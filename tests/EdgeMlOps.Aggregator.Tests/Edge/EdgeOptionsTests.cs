using EdgeMlOps.Aggregator.Edge;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>Which devices a gateway speaks for: exact ids and prefixes, for sites of thousands of devices.</summary>
public class EdgeOptionsTests
{
    private static EdgeOptions With(params (string Gateway, string[] Devices)[] gateways) =>
        new() { Gateways = gateways.ToDictionary(g => g.Gateway, g => (IReadOnlyList<string>)g.Devices, StringComparer.Ordinal) };

    [Fact]
    public void AGateway_ServesItsExactIdsAndPrefixes_AndNothingElse()
    {
        var edge = With(("site-a", ["dev-1", "dev-2", "cam-*"]), ("site-b", ["dev-3"]));
        Assert.True(edge.Serves("site-a", "dev-2"));
        Assert.True(edge.Serves("site-a", "cam-17"));
        Assert.False(edge.Serves("site-a", "dev-3"));
        Assert.False(edge.Serves("site-a", "dev-"));
        Assert.False(edge.Serves("site-a", "cam")); // not under the prefix "cam-"
        Assert.True(edge.Serves("site-b", "dev-3"));
        Assert.False(edge.Serves("site-c", "dev-1"));

        // Another list (configuration read again, or `with`): answered from that list, not the first one's.
        var changed = edge with { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-3"] } };
        Assert.True(changed.Serves("site-a", "dev-3"));
        Assert.False(changed.Serves("site-a", "dev-1"));
        Assert.True(edge.Serves("site-a", "dev-1"));
    }

    [Fact]
    public void ASiteOfTenThousandListedDevices_IsAnsweredByLookup()
    {
        var ids = Enumerable.Range(0, 10_000).Select(i => $"dev-{i}").ToArray();
        var edge = With(("site-a", ids));
        Assert.True(edge.Serves("site-a", "dev-9999"));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var served = 0;
        for (var i = 0; i < 100_000; i++) served += edge.Serves("site-a", ids[i % ids.Length]) ? 1 : 0;
        watch.Stop();
        Assert.Equal(100_000, served);
        // A scan of 10,000 ids per message would take seconds for 100,000 messages; a lookup takes milliseconds.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"100,000 lookups took {watch.Elapsed.TotalMilliseconds:F0} ms");
    }
}
