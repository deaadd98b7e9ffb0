using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// What <c>/v1/fleet/devices</c> and <c>/v1/fleet/summary</c> answer: the devices a page at a time, filtered on the
/// server, and the counts the console's cards show. At 100,000 devices every device in every answer was 20 MB per
/// console refresh (every five seconds); now a page is what the console shows (500), and the counts are counted here.
/// </summary>
public static class FleetDevicesView
{
    /// <summary>
    /// The first <paramref name="limit"/> devices by id after <paramref name="after"/> (null: from the first) whose id,
    /// state, tags (<c>key=value</c>) or version (<c>v7</c>) contain <paramref name="filter"/>, case-insensitive — what
    /// the console's filter box matched in the browser.
    /// </summary>
    public static IReadOnlyList<object> Page(IEnumerable<DeviceInfo> devices, string? filter, int? limit, string? after) =>
        [.. Matching(devices, filter)
            .Where(d => after is null || string.CompareOrdinal(d.DeviceId, after) > 0)
            .OrderBy(d => d.DeviceId, StringComparer.Ordinal)
            .Take(ApiPage.Size(limit))
            .Select(d => (object)new { d.DeviceId, State = d.State.ToString(), d.ModelName, d.ModelVersion, d.SampleCount, d.Tags, d.LastSeen, d.SamplesRefused })];

    /// <summary>The fleet in counts: devices, online, versions served, and those matching <paramref name="filter"/>.</summary>
    public static object Summary(IReadOnlyCollection<DeviceInfo> devices, string? filter) => new
    {
        Devices = devices.Count,
        Online = devices.Count(d => d.State == DeviceState.Online),
        VersionsServed = devices.Select(d => d.ModelVersion).Distinct().Count(),
        Matching = Matching(devices, filter).Count(),
    };

    private static IEnumerable<DeviceInfo> Matching(IEnumerable<DeviceInfo> devices, string? filter) =>
        string.IsNullOrEmpty(filter) ? devices : devices.Where(d => Text(d).Contains(filter, StringComparison.OrdinalIgnoreCase));

    private static string Text(DeviceInfo d) =>
        string.Join(' ', d.DeviceId, d.State.ToString(), string.Join(", ", d.Tags.Select(t => $"{t.Key}={t.Value}")), $"v{d.ModelVersion}");
}
