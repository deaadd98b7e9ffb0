using EdgeMlOps.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator;

/// <summary>The aggregator services' log messages, in one place (event ids unique across the aggregator).</summary>
internal static partial class AggregatorLog
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Aggregator for fleet {Fleet} serving {ModelName} v{Version}; broker {Broker}, artifacts {ArtifactBaseUrl}, state in {Store}")]
    public static partial void LogStarted(this ILogger logger, string fleet, string modelName, ulong version, string broker, string artifactBaseUrl, string store);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Resumed {ModelName} at v{Version} after round {Round}")]
    public static partial void LogResumed(this ILogger logger, string modelName, ulong version, long round);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Round {RoundId}: {Eligible} eligible, {Selected} selected, target {Target}")]
    public static partial void LogRoundStarted(this ILogger logger, string roundId, int eligible, int selected, int target);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Round {RoundId}: published v{Version} from {Contributors} devices, {Samples} samples; held-out {Accuracy}")]
    public static partial void LogRoundCompleted(this ILogger logger, string roundId, ulong version, int contributors, long samples, string accuracy);

    /// <summary>A version's held-out score for a log line — accuracy, a regressor's R², a multi-label classifier's label accuracy — to four decimals, or why there is none.</summary>
    public static string HeldOut(double? accuracy, string accuracyName = "accuracy") =>
        accuracyName + " " + (accuracy is { } a ? a.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "not measured (no Evaluation:DataFile)");

    [LoggerMessage(EventId = 2043, Level = LogLevel.Information, Message = "Round {RoundId}: closed before its deadline, every selected device that can still report did; {Withdrawn} revoked mid-round")]
    public static partial void LogNobodyLeft(this ILogger logger, string roundId, int withdrawn);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Round {RoundId} abandoned: {Contributors} updates, quorum {Quorum}; model kept")]
    public static partial void LogAbandoned(this ILogger logger, string roundId, int contributors, int quorum);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Round {RoundId} not started: {Eligible} eligible devices, need {Needed}")]
    public static partial void LogNotStarted(this ILogger logger, string roundId, int eligible, int needed);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Rejected message from {DeviceId}: {Reason} ({Detail})")]
    public static partial void LogRejected(this ILogger logger, string deviceId, RejectionReason reason, string detail);

    /// <summary>
    /// An update for the round that just closed on its target: the normal fate of an over-selected device's work, so a
    /// debug line (still counted among the rejections, and in the round's turnout) rather than a warning every round.
    /// </summary>
    [LoggerMessage(EventId = 2013, Level = LogLevel.Debug, Message = "Late update from {DeviceId}: {Detail}")]
    public static partial void LogLateUpdate(this ILogger logger, string deviceId, string detail);

    [LoggerMessage(EventId = 2062, Level = LogLevel.Error, Message = "Dropped a {Kind} message from {DeviceId}: the store could not record it ({Detail})")]
    public static partial void LogStoreUnavailable(this ILogger logger, string deviceId, string kind, string detail);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Evaluation from {DeviceId}: v{Version} accuracy {Accuracy:F4} on {Samples} samples")]
    public static partial void LogEvaluation(this ILogger logger, string deviceId, ulong version, double accuracy, ulong samples);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Round {RoundId} not started: {Reason}")]
    public static partial void LogStopped(this ILogger logger, string roundId, string reason);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Strategy: {Strategy}")]
    public static partial void LogStrategy(this ILogger logger, string strategy);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Saved strategy state for v{Version} does not fit the model; starting the server optimizer afresh")]
    public static partial void LogStrategyStateDiscarded(this ILogger logger, ulong version);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Buffered aggregation {BufferId}: published v{Version} from {Contributors} updates (mean staleness {Staleness:F2}); held-out {Accuracy}")]
    public static partial void LogBufferFlushed(this ILogger logger, string bufferId, ulong version, int contributors, double staleness, string accuracy);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "Reconnected to the broker (session present: {SessionPresent}); published {Count} retained statements again")]
    public static partial void LogRetainedRestored(this ILogger logger, int count, bool sessionPresent);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Warning, Message = "Re-signing the announcement or rollout plan failed: {Reason}")]
    public static partial void LogRepublishFailed(this ILogger logger, string reason);

    [LoggerMessage(EventId = 2042, Level = LogLevel.Error, Message = "Admin request {Path} failed")]
    public static partial void LogAdminFailure(this ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Warning, Message = "Drift: v{Version} cohort {Cohort} window {Window}: {Drifted} of {Judged} features drifted: {Features}")]
    public static partial void LogDrift(this ILogger logger, ulong version, string cohort, long window, int drifted, int judged, string features);

    [LoggerMessage(EventId = 2051, Level = LogLevel.Warning, Message = "Prediction drift: v{Version} cohort {Cohort} window {Window}: {Drifted} of {Judged} outputs moved from the version's first production predictions: {Outputs}")]
    public static partial void LogPredictionDrift(this ILogger logger, ulong version, string cohort, long window, int drifted, int judged, string outputs);

    [LoggerMessage(EventId = 2090, Level = LogLevel.Information, Message = "Forgot {Count} devices not heard from for {Period} (Devices:ForgetAfterDays): {Devices}")]
    public static partial void LogDevicesForgotten(this ILogger logger, int count, string period, string devices);

    [LoggerMessage(EventId = 2091, Level = LogLevel.Warning, Message = "The retained statuses of {Count} forgotten devices could not be cleared on the broker (a restart reads them back): {Reason}")]
    public static partial void LogRetainedStatusesNotCleared(this ILogger logger, int count, string reason);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Warning, Message = "INSECURE: connecting to broker {Broker} over plain TCP without authentication (Security:AllowPlaintext). Development only.")]
    public static partial void LogInsecureBroker(this ILogger logger, string broker);

    [LoggerMessage(EventId = 2304, Level = LogLevel.Warning, Message = "Broker {Broker} not reachable yet ({Reason}); trying again in {PauseSeconds:0.#} s, for up to {LeftSeconds:0} s more (Aggregator:BrokerStartupWaitSeconds)")]
    public static partial void LogBrokerNotReachableYet(this ILogger logger, string broker, string reason, double pauseSeconds, double leftSeconds);

    [LoggerMessage(EventId = 2303, Level = LogLevel.Warning, Message = "INSECURE: the HTTP API at {Url} has no TLS: enrollment and admin tokens travel in the clear (HttpUrl=https://… is the default). Development only.")]
    public static partial void LogInsecureApi(this ILogger logger, string url);

    [LoggerMessage(EventId = 2060, Level = LogLevel.Information, Message = "Pipeline {RunId}: {Step} — {Detail}")]
    public static partial void LogPipelineStep(this ILogger logger, string runId, string step, string detail);

    [LoggerMessage(EventId = 2061, Level = LogLevel.Error, Message = "Pipeline {RunId}: the step failed and will be retried: {Error}")]
    public static partial void LogPipelineFailed(this ILogger logger, string runId, string error);
}
