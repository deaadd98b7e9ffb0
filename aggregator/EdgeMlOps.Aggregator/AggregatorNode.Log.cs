using EdgeMlOps.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator;

public sealed partial class AggregatorNode
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Aggregator for fleet {Fleet} serving {ModelName} v{Version}; broker {Broker}, artifacts {ArtifactBaseUrl}")]
    private partial void LogStarted(string fleet, string modelName, ulong version, string broker, string artifactBaseUrl);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Resumed {ModelName} at v{Version} after round {Round}")]
    private partial void LogResumed(string modelName, ulong version, long round);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Round {RoundId}: {Eligible} eligible, {Selected} selected, target {Target}")]
    private partial void LogRoundStarted(string roundId, int eligible, int selected, int target);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Information, Message = "Round {RoundId}: published v{Version} from {Contributors} devices, {Samples} samples; held-out accuracy {Accuracy:F4}")]
    private partial void LogRoundCompleted(string roundId, ulong version, int contributors, long samples, double accuracy);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "Round {RoundId} abandoned: {Contributors} updates, quorum {Quorum}; model kept")]
    private partial void LogAbandoned(string roundId, int contributors, int quorum);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Round {RoundId} not started: {Eligible} eligible devices, need {Needed}")]
    private partial void LogNotStarted(string roundId, int eligible, int needed);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Warning, Message = "Rejected message from {DeviceId}: {Reason} ({Detail})")]
    private partial void LogRejected(string deviceId, RejectionReason reason, string detail);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Evaluation from {DeviceId}: v{Version} accuracy {Accuracy:F4} on {Samples} samples")]
    private partial void LogEvaluation(string deviceId, ulong version, double accuracy, ulong samples);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Round {RoundId} not started: {Reason}")]
    private partial void LogStopped(string roundId, string reason);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Strategy: {Strategy}")]
    private partial void LogStrategy(string strategy);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Saved strategy state for v{Version} does not fit the model; starting the server optimizer afresh")]
    private partial void LogStrategyStateDiscarded(ulong version);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Information, Message = "Buffered aggregation {BufferId}: published v{Version} from {Contributors} updates (mean staleness {Staleness:F2}); held-out accuracy {Accuracy:F4}")]
    private partial void LogBufferFlushed(string bufferId, ulong version, int contributors, double staleness, double accuracy);

    [LoggerMessage(EventId = 2040, Level = LogLevel.Warning, Message = "Re-signing the announcement or rollout plan failed: {Reason}")]
    private partial void LogRepublishFailed(string reason);


    [LoggerMessage(EventId = 2042, Level = LogLevel.Error, Message = "Admin request {Path} failed")]
    internal partial void LogAdminFailure(string path, Exception exception);

    [LoggerMessage(EventId = 2050, Level = LogLevel.Warning, Message = "Drift: v{Version} cohort {Cohort} window {Window}: {Drifted} of {Judged} features drifted: {Features}")]
    private partial void LogDrift(ulong version, string cohort, long window, int drifted, int judged, string features);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Warning, Message = "INSECURE: connecting to broker {Broker} over plain TCP without authentication (Security:AllowPlaintext). Development only.")]
    private partial void LogInsecureBroker(string broker);

    [LoggerMessage(EventId = 2303, Level = LogLevel.Warning, Message = "INSECURE: the HTTP API at {Url} has no TLS: enrollment and admin tokens travel in the clear (HttpUrl=https://… is the default). Development only.")]
    private partial void LogInsecureApi(string url);
}
