using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent;

public sealed partial class DeviceAgent
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Agent {DeviceId} connected to {Broker}")]
    private partial void LogStarted(string deviceId, string broker);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Installed model {ModelName} v{Version}")]
    private partial void LogInstalled(string modelName, ulong version);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Refused model {ModelName} v{Version}: {Reason}")]
    private partial void LogInstallFailed(string modelName, ulong version, string reason);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "Stopped the download of {ModelName} v{Version}: rollout {RolloutId} was aborted (signed rollback directive)")]
    private partial void LogInstallPreempted(string modelName, ulong version, string rolloutId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Round {RoundId}: trained on {Samples} samples in {Steps} steps, loss {Loss:F4}")]
    private partial void LogTrained(string roundId, int samples, int steps, double loss);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Round {RoundId}: skipped ({Reason})")]
    private partial void LogSkipped(string roundId, string reason);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error, Message = "Round {RoundId}: task failed")]
    private partial void LogTaskFailed(string roundId, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Warning, Message = "Malformed message on {Topic}: {Reason}")]
    private partial void LogMalformed(string topic, string reason);

    [LoggerMessage(EventId = 1008, Level = LogLevel.Warning, Message = "Model store: {Reason}")]
    private partial void LogModelFallback(string reason);

    [LoggerMessage(EventId = 1009, Level = LogLevel.Warning, Message = "Erased local data on request: {Samples} samples, {Predictions} pending predictions, {Outbox} queued messages")]
    private partial void LogErased(int samples, int predictions, int outbox);

    [LoggerMessage(EventId = 1007, Level = LogLevel.Warning, Message = "Publishing {Kind} failed: {Reason}")]
    private partial void LogPublishFailed(string kind, string reason);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Rolled back from v{From} to v{To}: {Reason}")]
    private partial void LogRolledBack(ulong from, ulong to, string reason);
}
