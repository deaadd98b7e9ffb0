using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// The fleet's model versions: the training head (resumed from the registry, or version 1 from seeded weights),
/// and new versions made from weights — both artifacts built and stored by sha256, evaluated on the held-out set if
/// configured, recorded with their lineage, audited, and put through governance (auto: deployed; governed: validated
/// against the deployed version by the gates).
/// </summary>
public sealed class ModelRepository
{
    private readonly AggregatorOptions _options;
    private readonly FleetStores _stores;
    private readonly IModelEvaluator? _evaluator;
    private readonly Explanations.VersionExplainer _explainer;
    private readonly TimeProvider _time;
    private GlobalModel _head;

    public ModelRepository(AggregatorOptions options, FleetStores stores, IModelEvaluator? evaluator, Explanations.VersionExplainer explainer, TimeProvider time, ILogger logger)
    {
        _options = options;
        _stores = stores;
        _evaluator = evaluator;
        _explainer = explainer;
        _time = time;
        _head = LoadOrCreate(logger);
    }

    /// <summary>The version rounds train on (the newest registered).</summary>
    public GlobalModel Head => Volatile.Read(ref _head);

    /// <summary>The version devices are meant to serve (the latest deployed), or null if none yet.</summary>
    public ModelVersionRecord? Deployed => _stores.Governance.Deployed(_options.ModelName);

    /// <summary>Makes <paramref name="model"/> the training head.</summary>
    public void SetHead(GlobalModel model) => Volatile.Write(ref _head, model);

    /// <summary>
    /// Stores both artifacts, evaluates (if configured), records and governs a new version; the head is not changed.
    /// For a model the fleet serves without training (by tensor names, or a serve-only classifier), <paramref name="file"/>
    /// is the admitted file, stored and served as it is (its weights are empty); for an uploaded graph the fleet trains, the
    /// uploaded file holding <paramref name="weights"/> (admitted by <see cref="UploadedGraphCheck.AdmitVersionOf"/>).
    /// </summary>
    public GlobalModel Register(ModelWeights weights, ulong parent, long round, int contributors, long samples, double? trainLoss, string? createdBy = null, string? reason = null, byte[]? file = null)
    {
        if (file is not null && _options.ModelSource is null) throw new ArgumentException("a generated model's versions are made from their trained values, not registered as files", nameof(file));
        var version = parent + 1;
        var metadata = new Dictionary<string, string>
        {
            ["edgemlops.model"] = _options.ModelName,
            ["edgemlops.version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        // An uploaded graph is served as the user's file (version 1) or that file with new trained values; never rebuilt.
        var (inferenceBytes, trainBytes) = _options.ModelSource is { } source
            ? (file ?? source.InferenceBytes(weights), source.TrainStep)
            : (ClassifierGraphs.BuildInference(weights, metadata).ToByteArray(), ClassifierGraphs.BuildTrainStep(weights.Spec).ToByteArray());
        var inferenceSha = _stores.Artifacts.Put(inferenceBytes);
        var trainSha = trainBytes is null ? string.Empty : _stores.Artifacts.Put(trainBytes); // none for a serve-only model
        double? accuracy = null, loss = null;
        IReadOnlyList<TaskScore>? tasks = null;
        if (_evaluator is not null)
        {
            using var model = _stores.Artifacts.LoadModel(inferenceBytes, _options.Model);
            var score = _evaluator.Evaluate(model);
            (accuracy, loss, tasks) = (Finite(score.Accuracy), Finite(score.Loss), score.Tasks); // not a number (R² of targets that do not vary): none, which the registry can store and JSON can write
        }

        var record = new ModelVersionRecord(
            _options.ModelName, version, parent, round, contributors, samples,
            inferenceSha, inferenceBytes.Length, trainSha, trainBytes?.Length ?? 0,
            accuracy, loss, trainLoss is { } t && double.IsFinite(t) ? t : null, _time.GetUtcNow())
        {
            State = VersionStates.Candidate,
            CreatedBy = createdBy ?? _options.Governance.TrainingIdentity,
            TaskScores = tasks,
        };
        _stores.Registry.AddVersion(record);
        _stores.Audit.Append(_time.GetUtcNow(), record.CreatedBy, "version.create", ModelGovernance.Subject(record),
            reason ?? (round == 0 ? (_options.ModelSource is null ? "initial weights" : $"uploaded file {_options.Model.Graph!.SourceSha256}") : FormattableString.Invariant($"round {round}: {contributors} devices, {samples} samples")), null, record.State);
        return new GlobalModel(Govern(record, inferenceBytes), weights);
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>Resumes from the registry's latest version, or creates version 1 from seeded initial weights.</summary>
    private GlobalModel LoadOrCreate(ILogger logger)
    {
        var registry = _stores.Registry;
        var specText = _options.Model.ToString();
        var existing = registry.GetModelSpec(_options.ModelName);
        if (existing is null)
        {
            registry.AddModel(_options.ModelName, specText, _time.GetUtcNow());
        }
        else if (existing != specText)
        {
            throw new InvalidOperationException($"Registry holds model '{_options.ModelName}' as {existing}; configuration asks for {specText}.");
        }

        if (registry.Latest(_options.ModelName) is { } latest)
        {
            var weights = ModelArtifacts.ReadWeights(_stores.Artifacts.Read(latest.InferenceSha256), _options.Model);
            if (latest.TrainStepSha256.Length > 0 && _stores.Artifacts.TryGetPath(latest.TrainStepSha256) is null) throw new InvalidOperationException($"Train-step artifact {latest.TrainStepSha256} is missing.");
            logger.LogResumed(_options.ModelName, latest.Version, registry.LastRound(_options.ModelName));
            return new GlobalModel(latest, weights);
        }

        return Register(_options.ModelSource?.InitialWeights() ?? ModelWeights.Initialize(_options.Model, _options.Seed), parent: 0, round: 0, contributors: 0, samples: 0, trainLoss: null);
    }

    /// <summary>
    /// Runs the registry's rules on a new version. Auto mode: approved by policy and deployed to the fleet (the
    /// previous deployed version is archived). Governed mode: the validation gates compare it with the deployed
    /// version on the aggregator's evaluation data.
    /// </summary>
    private ModelVersionRecord Govern(ModelVersionRecord record, byte[] inferenceBytes)
    {
        var governance = _stores.Governance;
        if (_options.Governance.Mode == DeploymentMode.Auto)
        {
            var previous = Deployed;
            record = governance.Move(record, VersionStates.Approved, "system:auto", "auto mode: approved by policy");
            record = governance.Move(record, VersionStates.Deployed, "system:auto", "auto mode: announced to the whole fleet");
            if (previous is not null && previous.Version != record.Version) governance.Move(previous, VersionStates.Archived, "system:auto", $"replaced by v{record.Version}");
            return record;
        }

        IReadOnlyDictionary<string, EvaluationScore>? candidate = null, live = null;
        if (_evaluator is not null)
        {
            using (var model = _stores.Artifacts.LoadModel(inferenceBytes, _options.Model)) candidate = _evaluator.EvaluateCohorts(model);
            if (Deployed is { } deployed)
            {
                using var liveModel = _stores.Artifacts.LoadModel(_stores.Artifacts.Read(deployed.InferenceSha256), _options.Model);
                live = _evaluator.EvaluateCohorts(liveModel);
            }
        }

        var outcome = ValidationGate.Decide(candidate, live, _options.Governance);
        if (outcome.State == VersionStates.Validated && _options.Governance.Explain.MinTopInputOverlap > 0 && Deployed is { } current
            && _explainer.For(record) is { } mine && _explainer.For(current) is { } theirs
            && Explanations.ExplanationGate.Check(mine, theirs, _options.Governance.Explain) is { } changed)
        {
            outcome = outcome with { State = VersionStates.Candidate, Reason = changed };
        }

        governance.RecordValidation(record, outcome);
        return _stores.Registry.Version(record.Model, record.Version) ?? record;
    }
}
