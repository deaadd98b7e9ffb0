using EdgeMlOps.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>What replicas and the coordinator log about shared rounds.</summary>
internal static partial class ReplicaLog
{
    [LoggerMessage(EventId = 2110, Level = LogLevel.Information, Message = "Replica {Replica}: taking device updates for the fleet's rounds (shared subscription {Filter})")]
    public static partial void LogReplicaStarted(this ILogger logger, string replica, string filter);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "Round {RoundId}: merged {Shares} replica shares with {Updates} updates")]
    public static partial void LogSharesMerged(this ILogger logger, string roundId, int shares, int updates);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "Round {RoundId}: the share of replica {Replica} was refused ({Reason}): {Detail}")]
    public static partial void LogShareRefused(this ILogger logger, string roundId, string replica, RejectionReason reason, string detail);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Information, Message = "Replica {Replica}: round {RoundId} closed; {Late} of its updates arrived after its last share and were not counted")]
    public static partial void LogShareClosed(this ILogger logger, string replica, string roundId, int late);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Warning, Message = "Replica {Replica}: update from {DeviceId} refused ({Reason}): {Detail}")]
    public static partial void LogReplicaRejected(this ILogger logger, string replica, string deviceId, RejectionReason reason, string detail);

    [LoggerMessage(EventId = 2115, Level = LogLevel.Error, Message = "Replica {Replica}: the store is unreachable, its share of {RoundId} is kept for the next attempt: {Error}")]
    public static partial void LogShareStoreFailed(this ILogger logger, string replica, string roundId, string error);
}
