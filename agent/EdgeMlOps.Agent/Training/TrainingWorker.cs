using System.Diagnostics;
using System.Numerics.Tensors;
using EdgeMlOps.Agent.Messaging;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Training;

/// <summary>
/// Works on verified round tasks: waits for the task's base version, trains on the device's labelled samples through
/// the train-step graph (or evaluates), bounded by the task's deadline and the device's own policy, and queues the
/// encoded weight delta (or the evaluation) in the outbox. Samples never leave the device.
/// </summary>
internal sealed class TrainingWorker
{
    private readonly AgentOptions _options;
    private readonly ModelSlots _slots;
    private readonly SampleStore _samples;
    private readonly SemaphoreSlim? _computeSlots;
    private readonly TimeProvider _time;
    private readonly MessageHeaders _headers;
    private readonly Topics _topics;
    private readonly OutboxPump _outbox;
    private readonly AgentCounters _counters;
    private readonly CancellationToken _stopping;
    private readonly ILogger _logger;
    private readonly UpdateCompressor _compressor = new();
    private readonly RecentRounds _seen = new();

    public TrainingWorker(AgentOptions options, ModelSlots slots, AgentDependencies deps, MessageHeaders headers, Topics topics, OutboxPump outbox, AgentCounters counters, CancellationToken stopping, ILogger logger)
    {
        _options = options;
        _slots = slots;
        _samples = deps.Store;
        _computeSlots = deps.ComputeSlots;
        _time = deps.Time;
        _headers = headers;
        _topics = topics;
        _outbox = outbox;
        _counters = counters;
        _stopping = stopping;
        _logger = logger;
    }

    private string DeviceId => _options.DeviceId;

    public async Task RunAsync(RoundTask task)
    {
        Interlocked.Increment(ref _counters.TasksReceived);
        if (!_seen.Add(task.RoundId))
        {
            Interlocked.Increment(ref _counters.TasksSkipped);
            return;
        }

        // The task's deadline, but never beyond the device's own cap on work per task.
        var budget = Clamp(WireTime.Nearest(task.DeadlineUnixMs) - _time.GetUtcNow());
        var allowed = budget < _options.MaxTrainingTime ? budget : _options.MaxTrainingTime;
        using var timeout = new CancellationTokenSource(allowed, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping);
        try
        {
            if (task.Header?.ProtocolVersion != ProtocolInfo.CurrentVersion)
            {
                Skip(task.RoundId, $"a task of protocol version {task.Header?.ProtocolVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"} (this device speaks {ProtocolInfo.CurrentVersion})");
                return;
            }

            // Pace steering: wait for this device's slot in the round's check-in window — within the task's deadline and the
            // device's own cap on work per task, both in the token (a stop ends the wait too).
            if (WireTime.Nearest(task.StartAfterUnixMs) - _time.GetUtcNow() is { } wait && wait > TimeSpan.Zero)
            {
                if (wait >= allowed)
                {
                    Skip(task.RoundId, $"its check-in window opens at {WireTime.Describe(task.StartAfterUnixMs)}, past its deadline or the device's cap on work per task");
                    return;
                }

                await Task.Delay(wait, _time, linked.Token).ConfigureAwait(false);
            }
            await _slots.WaitForAnyAsync(task.BaseVersion, linked.Token).ConfigureAwait(false);
            var model = _slots.EnterFor(task.BaseVersion)!;
            IMessage? message;
            try
            {
                if (model.Announcement.Version != task.BaseVersion || model.Announcement.ModelName != task.ModelName)
                {
                    Skip(task.RoundId, $"task trains {task.ModelName} v{task.BaseVersion}, device has v{model.Announcement.Version}");
                    return;
                }

                message = task.Kind == TaskKind.Evaluate ? Evaluate(task, model) : await TrainAsync(task, model, linked.Token).ConfigureAwait(false);
            }
            finally
            {
                model.Exit();
            }

            if (message is null) return;
            _outbox.Send(task.Kind == TaskKind.Evaluate ? _topics.Evaluation(DeviceId) : _topics.Update(DeviceId), message.ToByteArray());
            Interlocked.Increment(ref _counters.UpdatesProduced);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _counters.TasksSkipped);
            if (!_stopping.IsCancellationRequested) _logger.Skipped(task.RoundId, "deadline passed");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Interlocked.Increment(ref _counters.TasksSkipped);
            _logger.TaskFailed(task.RoundId, ex);
        }
    }

    /// <summary>A task refused before it reached the worker (unsigned, for another device, expired).</summary>
    public void Refused(string reason)
    {
        Interlocked.Increment(ref _counters.TasksSkipped);
        _logger.Skipped("(refused)", reason);
    }

    private void Skip(string roundId, string reason)
    {
        Interlocked.Increment(ref _counters.TasksSkipped);
        _logger.Skipped(roundId, reason);
    }

    private async Task<ModelUpdate?> TrainAsync(RoundTask task, InstalledModel model, CancellationToken cancellationToken)
    {
        var config = task.Config ?? new TrainConfig { LocalEpochs = 1, BatchSize = 10, LearningRate = 0.05f };
        CheckPolicy(config);
        var baseWeights = model.Inference.Value.Weights;
        if (model.TrainStep is not { } trainStep)
        {
            Skip(task.RoundId, "the model is served only (no train step)");
            return null;
        }

        var samples = Samples(baseWeights.Spec, (int)config.MaxSamples, task.BaseVersion);
        if (samples.Count == 0)
        {
            Skip(task.RoundId, "no labelled samples");
            return null;
        }

        if (_computeSlots is not null) await _computeSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        LocalTrainingResult result;
        var clock = Stopwatch.StartNew();
        try
        {
            var plan = new LocalTrainingPlan((int)config.LocalEpochs, (int)config.BatchSize, config.LearningRate, StableHash.Seed(task.Seed, DeviceId), config.ProximalMu);
            result = (samples.Targets, samples.RowLengths) switch // float targets: a regressor (mean squared error) or a multi-label classifier (binary cross-entropy)
            {
                ({ } targets, { } lengths) => trainStep.Value.TrainTargetLengths(baseWeights.Values, samples.Features, lengths, targets, plan, cancellationToken),
                ({ } targets, null) => trainStep.Value.TrainTargets(baseWeights.Values, samples.Features, targets, plan, cancellationToken),
                (null, { } lengths) => trainStep.Value.TrainLengths(baseWeights.Values, samples.Features, lengths, samples.Labels, plan, cancellationToken), // batches of one length each
                _ => trainStep.Value.Train(baseWeights.Values, samples.Features, samples.Labels, plan, cancellationToken),
            };
        }
        finally
        {
            _computeSlots?.Release();
        }

        var trained = samples.Count - result.LeftOut.Length; // samples the front end refused are left out, counted, and weigh nothing
        if (result.LeftOut.Length > 0)
        {
            Interlocked.Add(ref _counters.SamplesRefused, result.LeftOut.Length);
            _logger.SamplesLeftOut(task.RoundId, result.LeftOut.Length, samples.Count);
        }

        var delta = result.Weights;
        TensorPrimitives.Subtract(delta, baseWeights.Values, delta);
        var update = new ModelUpdate
        {
            Header = _headers.Next(),
            RoundId = task.RoundId,
            ModelName = task.ModelName,
            BaseVersion = task.BaseVersion,
            SampleCount = (ulong)trained,
            Metrics = new LocalMetrics
            {
                Loss = result.Loss,
                Accuracy = result.Accuracy,
                InitialLoss = result.InitialLoss,
                Steps = (uint)result.Steps,
                TrainMillis = (uint)clock.ElapsedMilliseconds,
            },
        };
        if (config.TrainingProfileShare > 0 && StableHash.UnitInterval(DeviceId, task.RoundId) < config.TrainingProfileShare)
        {
            // Sketches of what the model trained on: behind a front end its features, as served windows sketch them.
            var width = baseWeights.Spec.MonitoredWidth;
            var sketched = result.FrontFeatures ?? (baseWeights.Spec.Graph?.Varying is { } varying ? samples.Summaries(varying) : samples.Features); // samples of several lengths: each one's mean over the axis
            update.TrainingProfile = WindowProfiler.TrainingProfile(_options.SketchPolicy, sketched, trained, width, baseWeights.Spec.Classes,
                WindowProfiler.CategoricalInputs(model.Announcement, width), result.LeftOut.Length == 0 ? samples.Labels : [.. samples.Labels.Where((_, i) => Array.BinarySearch(result.LeftOut, i) < 0)]);
        }

        var quantizationNoise = new Random(StableHash.Seed(task.Seed, DeviceId + "/quantization"));
        update.Delta.AddRange(_compressor.Compress(baseWeights.Layout, delta, CompressionSettings.From(config), quantizationNoise));
        _logger.Trained(task.RoundId, trained, result.Steps, result.Loss);
        return update;
    }

    /// <summary>A task's train config must be sane and within what this device's policy allows.</summary>
    private void CheckPolicy(TrainConfig config)
    {
        if (config.LocalEpochs == 0 || config.BatchSize == 0 || !float.IsFinite(config.LearningRate) || config.LearningRate <= 0
            || !(config.ProximalMu >= 0) || !float.IsFinite(config.ProximalMu)
            || (config.UpdateEncoding == TensorEncoding.SparseTopK && !(config.TopKFraction > 0 && config.TopKFraction <= 1)))
        {
            throw new InvalidDataException($"bad train config: E={config.LocalEpochs} B={config.BatchSize} lr={config.LearningRate} mu={config.ProximalMu} encoding={config.UpdateEncoding} k={config.TopKFraction}");
        }

        if (config.LocalEpochs > _options.MaxLocalEpochs)
        {
            throw new InvalidDataException($"task asks for {config.LocalEpochs} local epochs; this device's policy allows {_options.MaxLocalEpochs} (Agent:MaxLocalEpochs)");
        }
    }

    /// <summary>
    /// The device's ground truth for <paramref name="spec"/>: class labels, or the float targets of a regressor or
    /// multi-label classifier — for a streaming model only rows holding the state <paramref name="version"/> made
    /// (a state another version made is one these weights would not produce).
    /// </summary>
    private SampleSet Samples(EdgeMlOps.Shared.Models.ModelSpec spec, int max, ulong version)
    {
        ulong? stateVersion = spec.Graph?.States.Count > 0 ? version : null;
        var varying = spec.Graph?.Varying; // samples of several lengths: every length the range allows
        return spec.TakesTargets ? _samples.LoadTargets(spec.InputDim, spec.Targets, max, stateVersion, varying) : _samples.LoadSamples(spec.InputDim, max, stateVersion, varying);
    }

    private EvaluationResult Evaluate(RoundTask task, InstalledModel model)
    {
        var inference = model.Inference.Value;
        var samples = Samples(inference.Spec, (int)(task.Config?.MaxSamples ?? 0), model.Announcement.Version);
        var score = Score(inference, samples);
        var result = new EvaluationResult
        {
            Header = _headers.Next(),
            RoundId = task.RoundId,
            ModelName = task.ModelName,
            Version = model.Announcement.Version,
            SampleCount = (ulong)score.Samples,
            Loss = score.Loss,
            Accuracy = score.Accuracy,
        };
        if (!inference.Spec.TakesTargets) AddImportance(task, inference, samples.OfWidth(inference.Spec.InputDim), result); // explanations read class probabilities of whole-length samples
        return result;
    }

    /// <summary>The model's loss and accuracy on the samples, each length of samples of several lengths on its own and weighted by its count.</summary>
    private static EvaluationScore Score(Runtime.InferenceModel inference, SampleSet samples) =>
        samples.Count == 0 ? new EvaluationScore(0, 0, 0) : EvaluationScore.Pooled(samples.Widths.Select(samples.OfWidth).Select(some =>
            some.Targets is { } targets ? inference.EvaluateTargets(some.Features, targets) // loss: MSE; accuracy: R²
                : inference.Evaluate(some.Features, some.Labels)));

    /// <summary>
    /// Federated permutation importance: counts over the device's newest rows, as many as its own budget allows. Inputs
    /// the model does not have (or asked twice) get no answer at all rather than a partial one.
    /// </summary>
    private void AddImportance(RoundTask task, Runtime.InferenceModel inference, SampleSet samples, EvaluationResult result)
    {
        if (task.ImportanceInputs.Count == 0 && task.Dependence.Count == 0) return;
        samples = samples.Rows(inference.RowsTaken(samples.Features, samples.Count)); // those the front end takes, as scoring (a row a shuffled input makes it refuse is then not right)
        AddDependence(task, inference, samples, result);
        var inputs = task.ImportanceInputs.Select(i => (int)Math.Min(i, int.MaxValue)).ToArray();
        if (inputs.Length == 0 || samples.Count == 0) return;
        if (inputs.Length > inference.Spec.InputDim || inputs.Any(i => i >= inference.Spec.InputDim) || inputs.Distinct().Count() != inputs.Length) return;
        var rows = (int)Math.Min(samples.Count, _options.Explain.MaxImportancePredictions / (inputs.Length + 1L));
        if (rows == 0) return;
        var m = inference.Spec.InputDim;
        var (correct, shuffled) = EdgeMlOps.Shared.Explanations.PermutationImportance.Counts(
            new Runtime.AnsweredProbabilities(inference), samples.Features.AsSpan(0, rows * m).ToArray(), samples.Labels.AsSpan(0, rows).ToArray(), inputs, unchecked((int)task.Seed));
        result.ImportanceRows = (ulong)rows;
        result.ImportanceCorrect = (ulong)correct;
        result.PermutedCorrect.AddRange(shuffled.Select(c => (ulong)c));
    }

    /// <summary>
    /// Federated partial dependence: per requested input, the summed probabilities over the device's newest rows with the
    /// input set to each grid value, as many rows as the device's budget allows. A request for an input the model does not
    /// have, or with a non-finite grid value, gets no answer at all.
    /// </summary>
    private void AddDependence(RoundTask task, Runtime.InferenceModel inference, SampleSet samples, EvaluationResult result)
    {
        var requests = task.Dependence;
        var m = inference.Spec.InputDim;
        if (requests.Count == 0 || samples.Count == 0) return;
        if (requests.Any(r => r.Input >= m || r.Grid.Count == 0 || r.Grid.Any(g => !float.IsFinite(g)))) return;
        var points = requests.Sum(r => (long)r.Grid.Count);
        var rows = (int)Math.Min(samples.Count, _options.Explain.MaxImportancePredictions / Math.Max(1, points));
        if (rows == 0) return;
        var features = samples.Features.AsSpan(0, rows * m).ToArray();
        foreach (var request in requests)
        {
            var curve = EdgeMlOps.Shared.Explanations.PartialDependence.Compute(new Runtime.AnsweredProbabilities(inference), features, rows, (int)request.Input, request.Grid.ToArray()); // over the rows answered at each value
            if (curve.Average.Any(point => point.Any(double.IsNaN))) continue; // a value at which the front end refused every row: no answer for this input
            var sums = new DependenceSums { Input = request.Input, Rows = (ulong)rows };
            sums.Sums.AddRange(curve.Average.SelectMany(point => point.Select(p => p * rows)));
            result.Dependence.Add(sums);
        }
    }

    private static TimeSpan Clamp(TimeSpan span) =>
        span < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : span > TimeSpan.FromDays(1) ? TimeSpan.FromDays(1) : span;
}
