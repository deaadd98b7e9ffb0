using System.Text.Json.Serialization;

namespace EdgeMlOps.Aggregator.Pipeline;

/// <summary>Where a pipeline run is. Completed and Stopped are final.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PipelineStage>))]
public enum PipelineStage
{
    /// <summary>Federated rounds from the deployed version on the devices' fresh labels.</summary>
    Training,

    /// <summary>The candidate goes through the gates.</summary>
    Validating,

    /// <summary>Passed the gates; waits for the approvals the policy asks for.</summary>
    AwaitingApproval,

    /// <summary>Its rollout runs: shadow on the canary's devices, then the stages.</summary>
    RollingOut,

    Completed,

    Stopped,
}

/// <summary>Why a run started: the trigger kind (drift, accuracy, labels, schedule, manual) and what it saw.</summary>
public sealed record PipelineTrigger(string Kind, string Detail);

/// <summary>One gate's verdict on a candidate.</summary>
public sealed record GateCheck(string Gate, bool Passed, string Detail);

/// <summary>One step of a run's timeline (each is also an audit entry).</summary>
public sealed record PipelineStep(DateTimeOffset At, string Step, string Actor, string Detail);

/// <summary>A run of the retraining pipeline, as stored (JSON in the registry) and shown by the API.</summary>
public sealed record PipelineRun
{
    public required string Id { get; init; }

    public required string Model { get; init; }

    public required PipelineTrigger Trigger { get; init; }

    public required PipelinePolicy Policy { get; init; }

    public PipelineStage Stage { get; init; } = PipelineStage.Training;

    /// <summary>The deployed version the rounds started from.</summary>
    public ulong BaseVersion { get; init; }

    /// <summary>The version the rounds produced (0 until then).</summary>
    public ulong Candidate { get; init; }

    public int RoundsRun { get; init; }

    /// <summary>The newest monitoring window judged when the run started: later triggers look only at later windows.</summary>
    public long LastWindow { get; init; } = -1;

    /// <summary>Federated evaluation of the base before the rounds (when the policy asks), to compare the candidate with.</summary>
    public Evaluation.FederatedEvaluationReport? FederatedBase { get; init; }

    public IReadOnlyList<GateCheck> Gates { get; init; } = [];

    /// <summary>Distinct people who must approve: the policy's count, at least one when the registry held the version for review.</summary>
    public int RequiredApprovals { get; init; }

    /// <summary>People who approved the candidate for this run, in order.</summary>
    public IReadOnlyList<string> Approvals { get; init; } = [];

    public string? RolloutId { get; init; }

    /// <summary>Why the run ended (or what it waits for).</summary>
    public string Note { get; init; } = string.Empty;

    public DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public IReadOnlyList<PipelineStep> Steps { get; init; } = [];

    [JsonIgnore]
    public bool IsFinal => Stage is PipelineStage.Completed or PipelineStage.Stopped;
}

/// <summary>The pipeline as the API shows it: policy, paused or not, the active run and the recent ones.</summary>
public sealed record PipelineView(PipelinePolicy Policy, string PolicySource, bool Paused, string? PausedBy, PipelineRun? Active, IReadOnlyList<PipelineRun> Recent);

/// <summary>A new policy for the pipeline, and why (the admin API's body).</summary>
public sealed record PolicyRequest(PipelinePolicy? Policy, string? Reason);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(PipelineRun))]
[JsonSerializable(typeof(PipelineView))]
[JsonSerializable(typeof(PipelinePolicy))]
[JsonSerializable(typeof(PolicyRequest))]
internal sealed partial class PipelineJson : JsonSerializerContext;
