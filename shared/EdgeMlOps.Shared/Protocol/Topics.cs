namespace EdgeMlOps.Shared.Protocol;

/// <summary>
/// The versioned MQTT topic namespace: <c>edgemlops/v1/{fleet}/...</c>.
/// Devices publish under their own <c>devices/{deviceId}/</c> subtree; the aggregator publishes
/// the retained model announcement fleet-wide and tasks to each selected device. Every further model the fleet runs
/// (a model line, <see cref="Line"/>) has the same layout under <c>edgemlops/v1/{fleet}/lines/{line}/</c>.
/// </summary>
public sealed class Topics
{
    public const string Root = "edgemlops";
    public const string Version = "v1";

    /// <summary>The segment under a fleet's prefix that model lines live below.</summary>
    public const string LinesSegment = "lines";

    public Topics(string fleet, string? line = null)
    {
        if (!IsValidSegment(fleet))
        {
            throw new ArgumentException($"Fleet '{fleet}' is not a valid topic segment.", nameof(fleet));
        }

        if (line is not null && !IsValidSegment(line))
        {
            throw new ArgumentException($"Model line '{line}' is not a valid topic segment.", nameof(line));
        }

        Fleet = fleet;
        Line = line;
        FleetPrefix = $"{Root}/{Version}/{fleet}";
        Prefix = line is null ? FleetPrefix : $"{FleetPrefix}/{LinesSegment}/{line}";
    }

    public string Fleet { get; }

    /// <summary>The model line these topics are of, or null for the fleet's first model.</summary>
    public string? Line { get; }

    /// <summary>The fleet's own prefix (<c>edgemlops/v1/{fleet}</c>), whatever the line.</summary>
    public string FleetPrefix { get; }

    /// <summary>Where this line's topics live: <see cref="FleetPrefix"/>, or <c>{FleetPrefix}/lines/{line}</c>.</summary>
    public string Prefix { get; }

    /// <summary>
    /// What this line's signed statements and message headers carry as their fleet: the fleet's name, or
    /// <c>{fleet}/{line}</c> for a model line — so nothing signed for one line is taken on another's topics.
    /// </summary>
    public string ProtocolFleet => Line is null ? Fleet : $"{Fleet}/{Line}";

    /// <summary>Retained, fleet-wide: the signed catalogue of the fleet's model lines and the cohorts that run them.</summary>
    public string Catalogue => $"{FleetPrefix}/catalogue";

    /// <summary>The same fleet's topics for model line <paramref name="line"/>.</summary>
    public Topics ForLine(string line) => new(Fleet, line);

    /// <summary>
    /// The line a topic of this fleet belongs to: true with the line's topics for <c>{FleetPrefix}/lines/{line}/...</c>
    /// (a valid line segment followed by more), false for anything else.
    /// </summary>
    public bool TryParseLine(string topic, out Topics lineTopics)
    {
        lineTopics = this;
        var prefix = $"{FleetPrefix}/{LinesSegment}/";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var rest = topic.AsSpan(prefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1) return false;
        var line = rest[..slash].ToString();
        if (!IsValidSegment(line)) return false;
        lineTopics = new Topics(Fleet, line);
        return true;
    }

    /// <summary>Retained: the current global model version.</summary>
    public string Model => $"{Prefix}/model";

    /// <summary>Retained: the fleet's trust bundle (signed by the root), on its own so that key rotations and revocations reach every device whatever it runs.</summary>
    public string Trust => $"{Prefix}/trust";

    /// <summary>Retained: the signed rollout plan in force (one message for the whole fleet).</summary>
    public string Rollout => $"{Prefix}/rollout";

    /// <summary>Retained: the signed, short-lived freshness statement naming the retained statements above by hash.</summary>
    public string Timestamp => $"{Prefix}/timestamp";

    /// <summary>Retained: the signed list of revoked devices (read by edge gateways, which refuse them at their site's broker).</summary>
    public string Revocations => $"{Prefix}/revocations";

    public string Status(string deviceId) => $"{Prefix}/devices/{deviceId}/status";

    public string Task(string deviceId) => $"{Prefix}/devices/{deviceId}/task";

    public string Update(string deviceId) => $"{Prefix}/devices/{deviceId}/update";

    public string Evaluation(string deviceId) => $"{Prefix}/devices/{deviceId}/eval";

    /// <summary>A device's window profile (sketches, predicted classes, confusion counts).</summary>
    public string Profile(string deviceId) => $"{Prefix}/devices/{deviceId}/profile";

    /// <summary>An edge gateway's partial aggregate of its site's updates (published by the gateway, read by the aggregator).</summary>
    public string GatewayPartial(string gatewayId) => $"{Prefix}/gateways/{gatewayId}/partial";

    /// <summary>Subscription filter for every gateway's partial aggregates.</summary>
    public string AllGatewayPartials => $"{Prefix}/gateways/+/partial";

    /// <summary>Parses <c>edgemlops/v1/{fleet}/gateways/{id}/partial</c> (the only gateway topic). Returns false for anything else.</summary>
    public bool TryParseGatewayPartial(string topic, out string gatewayId)
    {
        gatewayId = string.Empty;
        var prefix = Prefix + "/gateways/";
        const string suffix = "/partial";
        if (!topic.StartsWith(prefix, StringComparison.Ordinal) || !topic.EndsWith(suffix, StringComparison.Ordinal) || topic.Length <= prefix.Length + suffix.Length) return false;
        var id = topic[prefix.Length..^suffix.Length];
        if (!IsValidSegment(id)) return false;
        gatewayId = id;
        return true;
    }

    /// <summary>Drift alerts from the aggregator.</summary>
    public string Alerts => $"{Prefix}/alerts";

    /// <summary>Subscription filter for every device's messages of one kind (status, update, eval).</summary>
    public string AllDevices(string kind) => $"{Prefix}/devices/+/{kind}";

    /// <summary>
    /// Parses <c>edgemlops/v1/{fleet}/devices/{id}/{kind}</c>. Returns false for anything else.
    /// </summary>
    public bool TryParseDeviceTopic(string topic, out string deviceId, out string kind)
    {
        deviceId = string.Empty;
        kind = string.Empty;
        var devicesPrefix = Prefix + "/devices/";
        if (!topic.StartsWith(devicesPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic.AsSpan(devicesPrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1 || rest[(slash + 1)..].Contains('/'))
        {
            return false;
        }

        deviceId = rest[..slash].ToString();
        kind = rest[(slash + 1)..].ToString();
        return true;
    }

    /// <summary>A topic segment: non-empty, no MQTT wildcards or separators, at most 128 chars.</summary>
    public static bool IsValidSegment(string? value) =>
        !string.IsNullOrEmpty(value)
        && value.Length <= 128
        && value.AsSpan().IndexOfAny("/+#\0") < 0
        && value[0] != '$';
}
