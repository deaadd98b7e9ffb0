using EdgeMlOps.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>Log lines of the edge tier: partials merged upstream, and the gateway's own work.</summary>
internal static partial class EdgeLog
{
    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "Edge: gateway {Gateway}'s partial of {RoundId} merged: {Count} updates ({Bytes} bytes)")]
    public static partial void LogPartialMerged(this ILogger logger, string gateway, string roundId, int count, long bytes);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Warning, Message = "Edge: gateway {Gateway}'s partial refused: {Reason} ({Detail})")]
    public static partial void LogPartialRefused(this ILogger logger, string gateway, RejectionReason reason, string detail);

    [LoggerMessage(EventId = 2122, Level = LogLevel.Information, Message = "Gateway {Gateway}: sent its site's partial of {RoundId} upstream: {Count} updates in {Bytes} bytes")]
    public static partial void LogPartialSent(this ILogger logger, string gateway, string roundId, int count, int bytes);

    [LoggerMessage(EventId = 2123, Level = LogLevel.Warning, Message = "Gateway {Gateway}: refused {DeviceId}'s update: {Reason} ({Detail})")]
    public static partial void LogSiteUpdateRefused(this ILogger logger, string gateway, string deviceId, RejectionReason reason, string detail);

    [LoggerMessage(EventId = 2124, Level = LogLevel.Warning, Message = "Gateway {Gateway}: upstream unreachable, {Pending} partials kept to send when it returns: {Error}")]
    public static partial void LogUpstreamUnreachable(this ILogger logger, string gateway, int pending, string error);

    [LoggerMessage(EventId = 2125, Level = LogLevel.Information, Message = "Gateway {Gateway} started: site broker {Site}, upstream {Upstream}")]
    public static partial void LogGatewayStarted(this ILogger logger, string gateway, string site, string upstream);

    [LoggerMessage(EventId = 2126, Level = LogLevel.Information, Message = "Gateway: artifact {Sha256} cached ({Bytes} bytes)")]
    public static partial void LogArtifactCached(this ILogger logger, string sha256, long bytes);

    [LoggerMessage(EventId = 2127, Level = LogLevel.Warning, Message = "Gateway: artifact {Sha256} not cached: {Reason}")]
    public static partial void LogArtifactRefused(this ILogger logger, string sha256, string reason);

    [LoggerMessage(EventId = 2144, Level = LogLevel.Information, Message = "Gateway: artifact {Sha256} evicted from the cache, the least recently used of more than {Keep} ({Bytes} bytes freed; fetched again if asked for)")]
    public static partial void LogArtifactEvicted(this ILogger logger, string sha256, int keep, long bytes);

    [LoggerMessage(EventId = 2145, Level = LogLevel.Warning, Message = "Gateway: artifact {Sha256} could not be evicted from the cache (kept; tried again after the next fetch): {Error}")]
    public static partial void LogEvictionFailed(this ILogger logger, string sha256, string error);

    [LoggerMessage(EventId = 2128, Level = LogLevel.Warning, Message = "Gateway {Gateway}: device {DeviceId} revoked by the fleet: dropped from the site's broker and refused there")]
    public static partial void LogDeviceRevoked(this ILogger logger, string gateway, string deviceId);

    [LoggerMessage(EventId = 2129, Level = LogLevel.Error, Message = "Gateway {Gateway}: device {DeviceId}'s revocation not stored (refused until the gateway restarts, and again once the fleet's list arrives): {Error}")]
    public static partial void LogRevocationNotStored(this ILogger logger, string gateway, string deviceId, string error);

    [LoggerMessage(EventId = 2130, Level = LogLevel.Error, Message = "Gateway {Gateway}: the fleet's broker refused {Topic}, dropped (do Aggregator:Edge:Gateways agree here and at the aggregator, or Mosquitto's ACL need regenerating?): {Error}")]
    public static partial void LogUpstreamRefused(this ILogger logger, string gateway, string topic, string error);

    [LoggerMessage(EventId = 2132, Level = LogLevel.Warning, Message = "Gateway {Gateway}: {Change}")]
    public static partial void LogRevokedTakenOut(this ILogger logger, string gateway, string change);

    [LoggerMessage(EventId = 2131, Level = LogLevel.Warning, Message = "Gateway {Gateway}: the fleet's revocation list refused (the devices it names before stay refused): {Reason}")]
    public static partial void LogRevocationListRefused(this ILogger logger, string gateway, string reason);

    [LoggerMessage(EventId = 2133, Level = LogLevel.Information, Message = "Gateway {Gateway}: the fleet's catalogue names model lines [{Lines}]; relaying their statements and its devices' messages in them")]
    public static partial void LogGatewayLines(this ILogger logger, string gateway, string lines);

    [LoggerMessage(EventId = 2134, Level = LogLevel.Warning, Message = "Gateway {Gateway}: the fleet's catalogue refused (the lines it relays stay as they were): {Reason}")]
    public static partial void LogCatalogueRefused(this ILogger logger, string gateway, string reason);

    [LoggerMessage(EventId = 2135, Level = LogLevel.Information, Message = "Gateway {Gateway}: model line {Line}'s updates go up one by one, not in partials: {Reason}")]
    public static partial void LogLineRelayed(this ILogger logger, string gateway, string line, string reason);
}
