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

    [LoggerMessage(EventId = 2116, Level = LogLevel.Warning, Message = "Replica {Replica} is connected but took none of the updates in {Rounds} rounds in a row that fell short (last {RoundId}, {Own} updates reached the coordinator): the broker may deny it the update topics and drop its turn of the shared subscription without a word (Mosquitto does) — write the broker's configuration again with every replica and line (--write-mosquitto-config)")]
    public static partial void LogReplicaStarved(this ILogger logger, string replica, int rounds, string roundId, long own);

    [LoggerMessage(EventId = 2117, Level = LogLevel.Information, Message = "Replica {Replica} takes its share of the updates again (round {RoundId})")]
    public static partial void LogReplicaSharesAgain(this ILogger logger, string replica, string roundId);

    [LoggerMessage(EventId = 2118, Level = LogLevel.Warning, Message = "Replica {Replica}: cannot record in the store that it is connected: {Error}")]
    public static partial void LogPresenceStoreFailed(this ILogger logger, string replica, string error);

    [LoggerMessage(EventId = 2140, Level = LogLevel.Information, Message = "Replica {Replica}: taking a share of model line {Line}'s updates (a line added at run time)")]
    public static partial void LogLineJoined(this ILogger logger, string replica, string line);

    [LoggerMessage(EventId = 2141, Level = LogLevel.Information, Message = "Replica {Replica}: no longer taking model line {Line}'s updates (the line was removed or changed)")]
    public static partial void LogLineLeft(this ILogger logger, string replica, string line);

    [LoggerMessage(EventId = 2142, Level = LogLevel.Warning, Message = "Replica {Replica}: cannot take a share of model line {Line}'s updates yet (tried again in a few seconds; the coordinator takes them all meanwhile): {Error}")]
    public static partial void LogLineNotJoined(this ILogger logger, string replica, string line, string error);

    [LoggerMessage(EventId = 2143, Level = LogLevel.Warning, Message = "Replica {Replica}: the fleet's model lines do not read now; the lines it takes updates for stay as they are: {Errors}")]
    public static partial void LogLinesUnreadable(this ILogger logger, string replica, string errors);
}
