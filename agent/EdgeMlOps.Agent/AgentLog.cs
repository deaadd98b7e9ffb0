using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent;

/// <summary>Every log message of the agent's services, in one place (event ids unique across the agent).</summary>
internal static partial class AgentLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Agent {DeviceId} connected to {Broker}")]
    public static partial void Started(this ILogger logger, string deviceId, string broker);

    /// <summary>Started, serving locally, while the broker is not reached yet (refused or away): the channel keeps trying.</summary>
    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "Agent {DeviceId} started without a connection to {Broker}: serving locally and trying again in the background")]
    public static partial void StartedOffline(this ILogger logger, string deviceId, string broker);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Installed model {ModelName} v{Version}")]
    public static partial void Installed(this ILogger logger, string modelName, ulong version);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Refused model {ModelName} v{Version}: {Reason}")]
    public static partial void InstallFailed(this ILogger logger, string modelName, ulong version, string reason);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "Stopped the download of {ModelName} v{Version}: rollout {RolloutId} was aborted (signed rollback directive)")]
    public static partial void InstallPreempted(this ILogger logger, string modelName, ulong version, string rolloutId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Round {RoundId}: trained on {Samples} samples in {Steps} steps, loss {Loss:F4}")]
    public static partial void Trained(this ILogger logger, string roundId, int samples, int steps, double loss);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Warning, Message = "Round {RoundId}: left {LeftOut} of {Samples} samples out of training, the front end refused them (values that make a count outside the signed range)")]
    public static partial void SamplesLeftOut(this ILogger logger, string roundId, int leftOut, int samples);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Round {RoundId}: skipped ({Reason})")]
    public static partial void Skipped(this ILogger logger, string roundId, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Round {RoundId}: task failed")]
    public static partial void TaskFailed(this ILogger logger, string roundId, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Malformed message on {Topic}: {Reason}")]
    public static partial void Malformed(this ILogger logger, string topic, string reason);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Publishing {Kind} failed: {Reason}")]
    public static partial void PublishFailed(this ILogger logger, string kind, string reason);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Model store: {Reason}")]
    public static partial void ModelFallback(this ILogger logger, string reason);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Erased local data on request: {Samples} samples, {Predictions} pending predictions, {Outbox} queued messages")]
    public static partial void Erased(this ILogger logger, int samples, int predictions, int outbox);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Rolled back from v{From} to v{To}: {Reason}")]
    public static partial void RolledBack(this ILogger logger, ulong from, ulong to, string reason);
}
