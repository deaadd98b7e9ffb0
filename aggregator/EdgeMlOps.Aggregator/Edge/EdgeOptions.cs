using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// The edge aggregation tier (<c>Aggregator:Edge:*</c>, docs/SCALING.md "Edge tier"). On the fleet's aggregator,
/// <see cref="Gateways"/> says which devices each gateway speaks for: a gateway's partial aggregate is merged only when
/// every device it names is one of them. On a gateway, <see cref="FlushBefore"/> is how long before a round's deadline it
/// sends what its site has reported even if devices are still missing, and <see cref="Settle"/> how long it waits for more
/// of a round's tasks once every tasked device has reported.
/// </summary>
public sealed record EdgeOptions
{
    /// <summary>This process is gateway <c>Gateway</c> (the edge role): it runs its site's broker and a gateway to <see cref="Upstream"/>, no rounds of its own. Null: an aggregator.</summary>
    public string? Gateway { get; init; }

    /// <summary>The fleet's broker a gateway connects to with its gateway certificate (mqtts://HOST:PORT).</summary>
    public MqttEndpoint? Upstream { get; init; }

    /// <summary>The aggregator's API a gateway fetches artifacts from into its cache (https://HOST:8443/); null: its devices download from the aggregator themselves.</summary>
    public Uri? UpstreamApi { get; init; }

    /// <summary>A gateway's credentials directory (<c>--issue-gateway</c> writes one); null: <c>{DataDirectory}/gateway</c>.</summary>
    public string? Credentials { get; init; }

    /// <summary>Gateway id → the devices it serves: exact ids, or a prefix ending in '*' (<c>site-a-*</c>).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Gateways { get; init; } = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);

    /// <summary>How long before a round's deadline a gateway sends its site's partial with devices still missing.</summary>
    public TimeSpan FlushBefore { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a gateway waits after a round's last task before sending the partial of a site that has all reported (more tasks may still be on their way).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Artifacts a gateway keeps in its cache (<c>Edge:CachedArtifacts</c>, default 64): past it, the least recently
    /// named, fetched or served are deleted; a device asking for one again has it fetched again. 0 keeps every one.
    /// </summary>
    public int CachedArtifacts { get; init; } = DefaultCachedArtifacts;

    public const int DefaultCachedArtifacts = 64;

    /// <summary>
    /// Whether <paramref name="gatewayId"/> is a gateway that serves <paramref name="deviceId"/> — asked for every message
    /// a site's broker or the fleet's sees from a gateway: a set lookup for exact ids, a scan of the (few) prefixes only.
    /// </summary>
    public bool Serves(string gatewayId, string deviceId) =>
        ServedDevices.Of(Gateways).TryGetValue(gatewayId, out var served) && served.Includes(deviceId);

    /// <summary>An exact device id, or a prefix ending in '*'.</summary>
    public static bool Matches(string pattern, string deviceId) =>
        pattern.EndsWith('*') ? deviceId.StartsWith(pattern[..^1], StringComparison.Ordinal) : pattern == deviceId;

    public IEnumerable<(string Key, string Problem)> Problems()
    {
        foreach (var (gateway, patterns) in Gateways)
        {
            if (!Topics.IsValidSegment(gateway)) yield return ($"Edge:Gateways:{gateway}", "not a gateway id (a topic segment)");
            if (patterns.Count == 0) yield return ($"Edge:Gateways:{gateway}", "names no device (ids, or prefixes ending in '*', separated by commas)");
            foreach (var p in patterns.Where(p => p is "*" || p.IndexOf('*') is var star && star >= 0 && star != p.Length - 1))
            {
                yield return ($"Edge:Gateways:{gateway}", $"'{p}': a '*' may only end a prefix of at least one character");
            }
        }

        if (Gateway is not null && !Topics.IsValidSegment(Gateway)) yield return ("Edge:Gateway", $"'{Gateway}' is not a gateway id (a topic segment)");
        if (Gateway is not null && Upstream is not { Tls: true }) yield return ("Edge:Upstream", "a gateway needs the fleet's broker as mqtts://HOST:PORT");
        if (UpstreamApi is { Scheme: not "https" }) yield return ("Edge:UpstreamApi", "the aggregator's API as https://HOST:PORT/ (its certificate from the fleet CA)");
        if (Gateway is not null && !Gateways.ContainsKey(Gateway)) yield return ($"Edge:Gateways:{Gateway}", "a gateway lists the devices it serves: the same list as on the fleet's aggregator");
        if (FlushBefore < TimeSpan.Zero || FlushBefore > TimeSpan.FromHours(1)) yield return ("Edge:FlushBeforeSeconds", "must be between 0 and 3600");
        if (Settle < TimeSpan.Zero || Settle > TimeSpan.FromMinutes(10)) yield return ("Edge:SettleSeconds", "must be between 0 and 600");
        if (CachedArtifacts is < 0 or (> 0 and < ArtifactCache.MinFiles)) yield return ("Edge:CachedArtifacts", $"must be 0 (keep every artifact) or at least {ArtifactCache.MinFiles} (the statements in force name several at once)");
    }

    public static EdgeOptions Read(Shared.Configuration.ConfigReader r)
    {
        var upstreamText = r.OptionalString("Edge:Upstream");
        MqttEndpoint? upstream = null;
        r.Require(upstreamText is null || MqttEndpoint.TryParse(upstreamText, out upstream!), "Edge:Upstream", $"'{upstreamText}' is not an mqtts://host:port URL");
        var apiText = r.OptionalString("Edge:UpstreamApi");
        Uri? api = null;
        r.Require(apiText is null || Uri.TryCreate(apiText.EndsWith('/') ? apiText : apiText + "/", UriKind.Absolute, out api), "Edge:UpstreamApi", $"'{apiText}' is not an https URL");
        return new EdgeOptions
        {
            UpstreamApi = api,
            Gateway = r.OptionalString("Edge:Gateway"),
            Upstream = upstream,
            Credentials = r.OptionalString("Edge:Credentials"),
            Gateways = r.Map("Edge:Gateways").ToDictionary(
                kv => kv.Key,
                kv => (IReadOnlyList<string>)kv.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                StringComparer.Ordinal),
            FlushBefore = TimeSpan.FromSeconds(r.Double("Edge:FlushBeforeSeconds", 5, 0, 3600)),
            Settle = TimeSpan.FromSeconds(r.Double("Edge:SettleSeconds", 1, 0, 600)),
            CachedArtifacts = r.Int("Edge:CachedArtifacts", DefaultCachedArtifacts),
        };
    }
}

/// <summary>A gateway's device list as a set of exact ids and its prefixes, built once per <see cref="EdgeOptions.Gateways"/> map.</summary>
internal sealed class ServedDevices(IEnumerable<string> patterns)
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<IReadOnlyDictionary<string, IReadOnlyList<string>>, Dictionary<string, ServedDevices>> Built = new();
    private readonly HashSet<string> _exact = patterns.Where(p => !p.EndsWith('*')).ToHashSet(StringComparer.Ordinal);
    private readonly string[] _prefixes = [.. patterns.Where(p => p.EndsWith('*')).Select(p => p[..^1])];

    public static Dictionary<string, ServedDevices> Of(IReadOnlyDictionary<string, IReadOnlyList<string>> gateways) =>
        Built.GetValue(gateways, map => map.ToDictionary(kv => kv.Key, kv => new ServedDevices(kv.Value), StringComparer.Ordinal));

    public bool Includes(string deviceId) =>
        _exact.Contains(deviceId) || _prefixes.Any(prefix => deviceId.StartsWith(prefix, StringComparison.Ordinal));
}
