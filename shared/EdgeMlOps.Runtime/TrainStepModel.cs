using System.Numerics.Tensors;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>Local training settings: E epochs of mini-batches of B at learning rate η, with FedProx weight μ (0 = plain SGD).</summary>
public readonly record struct LocalTrainingPlan(int Epochs, int BatchSize, float LearningRate, int Seed, float ProximalMu = 0);

/// <summary>Outcome of local training: new weights plus last-epoch loss and accuracy.</summary>
public sealed record LocalTrainingResult(float[] Weights, double Loss, double Accuracy, double InitialLoss, int Steps)
{
    /// <summary>
    /// The features a declared front end made from the samples (row-major; what the model trained on) — for features
    /// that keep the samples' varying length, each sample's mean over the axis (what monitoring sketches) — or null without one.
    /// </summary>
    public float[]? FrontFeatures { get; init; }

    /// <summary>
    /// The samples (their indices, in order) the front end refused — values that made a count outside the signed range —,
    /// left out of training; empty when every sample trained. <see cref="FrontFeatures"/> hold the others' only.
    /// </summary>
    public int[] LeftOut { get; init; } = [];
}

/// <summary>
/// A train-step graph loaded into ONNX Runtime; runs SGD by calling it once per mini-batch.
/// Holds no per-call state, so one instance is shared by every device training the same
/// architecture. Weights ping-pong between two buffers bound as inputs and outputs, so a step
/// allocates nothing on the managed heap beyond its batch views (and, for ids or context inputs, one array per input).
/// </summary>
public sealed class TrainStepModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ParameterLayout _layout;
    private readonly ParameterLayout _state;
    private readonly SampleFeeds _feeds; // the features input and any context inputs, ids fed as int64 (an embedding's input)
    private readonly SampleFeedsByLength _lengths; // the features input at each length samples that vary along a free axis have
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly PreprocessSession? _front; // a classifier's declared preprocessing graph, run on the samples first
    private readonly SampleLengths? _callerLengths; // behind a front end, the lengths of the samples it takes
    private readonly int _featureLength; // floats per sample the train step takes (SampleLength unless a front end makes them)
    private readonly long[] _targetDims; // a regressor's float targets per sample (its labels input behind the batch); empty: int64 class ids
    private readonly bool _batchOfOne; // the file's batch is fixed at 1: a mini-batch's step is the mean of its rows' one-row steps
    private readonly bool _flagsOverflow; // it unrolls a loop the data ends to a declared bound, and says when a batch's loop would run longer

    /// <summary>
    /// The train step of <paramref name="spec"/>: parameters laid out by it; samples of <c>InputDim</c> floats for a
    /// dense classifier, or of an uploaded graph's sample dims into its declared features input — through its declared
    /// preprocessing graph first when it has one (<paramref name="preprocess"/>: that graph's file).
    /// </summary>
    public TrainStepModel(byte[] bytes, ModelSpec spec, OrtSessionSettings? settings = null, byte[]? preprocess = null)
        : this(bytes, ParameterLayout.For(spec), spec.Graph?.FeaturesInput ?? ClassifierGraphs.FeaturesInput,
            spec.Graph is { Preprocess: not null, FeatureLengths: not null } made ? [.. made.FeatureDims] : spec.Graph is { Preprocess: not null } ? null : spec.Graph is { } g ? [.. g.SampleDims] : [spec.InputDim], settings,
            PreprocessSession.Open(spec.Graph?.Preprocess, preprocess, settings ?? OrtSessionSettings.Default),
            spec.Graph is { ContextInputs.Count: > 0 } context ? context.Preprocess is null ? new SampleFeeds(context) : new SampleFeeds(context, [.. context.FeatureDims]) : null, spec.Graph) // behind a front end, what it makes and then the context
    {
        Spec = spec;
    }

    /// <summary>
    /// Any generated train step (<c>TrainStepGenerator</c>): <paramref name="layout"/> names the trained tensors in
    /// the flat weight vector, <paramref name="featuresInput"/> the model input a sample of shape
    /// <paramref name="sampleDims"/> feeds (a batch is [count, ..sampleDims]); labels are int64 class indices.
    /// </summary>
    public TrainStepModel(byte[] bytes, ParameterLayout layout, string featuresInput, long[] sampleDims, OrtSessionSettings? settings = null)
        : this(bytes, layout, featuresInput, sampleDims, settings, null)
    {
    }

    /// <summary>With <paramref name="front"/>, samples go through it first and <paramref name="sampleDims"/> (null) are read from the train step's features input.</summary>
    /// <remarks>With <paramref name="feeds"/> (a graph with context inputs), sample rows feed those inputs by name.</remarks>
    private TrainStepModel(byte[] bytes, ParameterLayout layout, string featuresInput, long[]? sampleDims, OrtSessionSettings? settings, PreprocessSession? front, SampleFeeds? feeds = null, GraphInterface? graph = null)
    {
        Sha256 = ContentHash.Sha256Hex(bytes);
        _layout = layout;
        _front = front;
        try
        {
            _session = OrtSessions.Open(bytes, settings ?? OrtSessionSettings.Default).Session;
        }
        catch
        {
            front?.Dispose();
            throw;
        }

        sampleDims ??= [.. _session.InputMetadata[featuresInput].Dimensions.Skip(1).Select(d => d > 0 ? d : throw new InvalidDataException($"the train step's input '{featuresInput}' has an axis after the batch that is not fixed"))];
        _feeds = feeds ?? new SampleFeeds(featuresInput, sampleDims,
            _session.InputMetadata.TryGetValue(featuresInput, out var features) && features.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64);
        if (_feeds.Names.FirstOrDefault(n => !_session.InputMetadata.ContainsKey(n)) is { } absent) throw new InvalidDataException($"the train step has no input '{absent}' its interface declares");
        _featureLength = _feeds.RowLength;
        _lengths = new SampleFeedsByLength(_feeds, graph, graph?.ModelLengths); // behind a front end, the lengths of what it makes
        _callerLengths = front is null ? null : graph?.Varying;
        SampleLength = front is null ? _featureLength : checked((int)front.Declared.Inputs[0].Dims.Skip(1).Aggregate(1L, (a, d) => a * d) + (graph?.ContextLength ?? 0));
        _targetDims = _session.InputMetadata.TryGetValue(ClassifierGraphs.LabelsInput, out var labels) && labels.ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float
            ? [.. labels.Dimensions.Skip(1).Select(d => d > 0 ? d : throw new InvalidDataException($"the train step's input '{ClassifierGraphs.LabelsInput}' has an axis after the batch that is not fixed"))]
            : [];
        TargetWidth = checked((int)_targetDims.Aggregate(_targetDims.Length == 0 ? 0L : 1L, (a, d) => a * d));
        // Optimizer state (velocity, Adam's moments) rides behind the parameters in the same flat buffers.
        var first = layout.Tensors[0].Name;
        Optimizer = Enum.GetValues<DeviceOptimizer>().LastOrDefault(o => TrainStepOptions.StateSuffixes(o) is { Count: > 0 } states
            && states.All(suffix => _session.InputMetadata.ContainsKey(TrainStepOptions.StateName(first, suffix))));
        _state = new ParameterLayout([.. TrainStepOptions.StateSuffixes(Optimizer).Prepend(null)
            .SelectMany(suffix => layout.Tensors.Select(t => (suffix is null ? t.Name : TrainStepOptions.StateName(t.Name, suffix), t.Dims)))]);
        var inputs = _state.Tensors.Select(t => t.Name)
            .Concat(_feeds.Names).Concat([ClassifierGraphs.LabelsInput, ClassifierGraphs.LearningRateInput, ClassifierGraphs.ProximalMuInput])
            .Concat(_layout.Tensors.Select(t => ClassifierGraphs.AnchorName(t.Name)));
        _inputNames = [.. Optimizer == DeviceOptimizer.Adam ? inputs.Append(TrainStepOptions.OptimizerStepInput) : inputs];
        _batchOfOne = OrtSessions.TakesOneRow(_session, _feeds.Names);
        _flagsOverflow = _session.OutputMetadata.ContainsKey(ClassifierGraphs.LoopOverflowOutput);
        _outputNames = _state.Tensors.Select(t => ClassifierGraphs.UpdatedName(t.Name))
            .Concat([ClassifierGraphs.LossOutput, ClassifierGraphs.CorrectOutput]).Concat(_flagsOverflow ? [ClassifierGraphs.LoopOverflowOutput] : []).ToArray();
    }

    public string Sha256 { get; }

    /// <summary>The architecture it was loaded for, or null for a train step loaded from a bare layout.</summary>
    public ModelSpec? Spec { get; }

    /// <summary>The optimizer the graph runs, read from its state inputs (SGD when it has none).</summary>
    public DeviceOptimizer Optimizer { get; }

    /// <summary>Floats per sample.</summary>
    public int SampleLength { get; }

    /// <summary>Float targets per sample a regressor's train step takes (<see cref="TrainTargets"/>); 0: it takes class ids (<see cref="Train"/>).</summary>
    public int TargetWidth { get; }

    public static TrainStepModel Build(ModelSpec spec) => new(ClassifierGraphs.BuildTrainStep(spec).ToByteArray(), spec);

    /// <summary>
    /// Runs <paramref name="plan"/>'s epochs of mini-batch steps over the samples (row-major [n, SampleLength]) from
    /// <paramref name="initial"/>, shuffling each epoch with the plan's seed; <paramref name="cancellationToken"/> is
    /// checked before every step, so a stop or a deadline ends training within one batch.
    /// </summary>
    public LocalTrainingResult Train(ReadOnlySpan<float> initial, float[] features, long[] labels, LocalTrainingPlan plan, CancellationToken cancellationToken = default)
    {
        if (TargetWidth > 0) throw new InvalidOperationException($"this train step takes {TargetWidth} float targets per sample: use TrainTargets");
        return Run(initial, features, labels.Length, null, labels, null, plan, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Train"/>, for samples of several lengths along the model's free axis
    /// (<see cref="GraphInterface.Varying"/>): sample <c>i</c> holds <paramref name="rowLengths"/>[i] values, laid end to
    /// end in <paramref name="features"/>. Each mini-batch holds samples of one length — each epoch the shuffled samples
    /// are cut into batches length by length, and the batches run in a shuffled order — so the optimizer's state carries
    /// across lengths as across batches.
    /// </summary>
    public LocalTrainingResult TrainLengths(ReadOnlySpan<float> initial, float[] features, int[] rowLengths, long[] labels, LocalTrainingPlan plan, CancellationToken cancellationToken = default)
    {
        if (TargetWidth > 0) throw new InvalidOperationException($"this train step takes {TargetWidth} float targets per sample: use TrainTargetLengths");
        if (rowLengths.Length != labels.Length) throw new ArgumentException($"{rowLengths.Length} sample lengths for {labels.Length} labels", nameof(rowLengths));
        return Run(initial, features, labels.Length, rowLengths, labels, null, plan, cancellationToken);
    }

    /// <summary>As <see cref="TrainLengths"/>, for a regressor's or multi-label classifier's float targets (<see cref="TrainTargets"/>).</summary>
    public LocalTrainingResult TrainTargetLengths(ReadOnlySpan<float> initial, float[] features, int[] rowLengths, float[] targets, LocalTrainingPlan plan, CancellationToken cancellationToken = default)
    {
        CheckTargets(targets);
        if (rowLengths.Length * TargetWidth != targets.Length) throw new ArgumentException($"{rowLengths.Length} sample lengths for {targets.Length / TargetWidth} rows of targets", nameof(rowLengths));
        return Run(initial, features, rowLengths.Length, rowLengths, null, targets, plan, cancellationToken);
    }

    /// <summary>
    /// As <see cref="Train"/>, for a regressor or a multi-label classifier: <paramref name="targets"/> holds
    /// <see cref="TargetWidth"/> floats per sample (row-major); the result's accuracy is a multi-label step's share of
    /// label decisions right, 0 for a regressor (its train step counts no hits), a multi-task step's share of its first
    /// task's decisions right (a class per row or per position, or each label; 0 when that task is a regression).
    /// </summary>
    public LocalTrainingResult TrainTargets(ReadOnlySpan<float> initial, float[] features, float[] targets, LocalTrainingPlan plan, CancellationToken cancellationToken = default)
    {
        CheckTargets(targets);
        return Run(initial, features, targets.Length / TargetWidth, null, null, targets, plan, cancellationToken);
    }

    /// <summary>The count, labels and targets (<paramref name="k"/> per row) of <paramref name="n"/> samples without the rows <paramref name="leftOut"/> names.</summary>
    private static (int N, long[]? Labels, float[]? Targets) WithoutRows(int[] leftOut, int n, long[]? labels, float[]? targets, int k)
    {
        var kept = Enumerable.Range(0, n).Except(leftOut).ToArray();
        return (kept.Length, labels is null ? null : [.. kept.Select(i => labels[i])], targets is null ? null : [.. kept.SelectMany(i => targets.AsSpan(i * k, k).ToArray())]);
    }

    private void CheckTargets(float[] targets)
    {
        if (TargetWidth == 0) throw new InvalidOperationException("this train step takes class ids: use Train");
        if (targets.Length % TargetWidth != 0) throw new ArgumentException($"{targets.Length} target values are not rows of {TargetWidth}", nameof(targets));
        if (targets.Any(t => !float.IsFinite(t))) throw new ArgumentException("a target is not a finite number", nameof(targets));
    }

    private LocalTrainingResult Run(ReadOnlySpan<float> initial, float[] features, int n, int[]? rowLengths, long[]? labels, float[]? targets, LocalTrainingPlan plan, CancellationToken cancellationToken)
    {
        var k = TargetWidth;
        if (initial.Length != _layout.TotalLength) throw new ArgumentException("Initial weights do not match the model.", nameof(initial));
        if (rowLengths is null && features.Length != n * SampleLength) throw new ArgumentException($"Expected {n} x {SampleLength} features.", nameof(features));
        if (n == 0 || plan.Epochs <= 0 || plan.BatchSize <= 0) throw new ArgumentException("Nothing to train on.");
        if (!(plan.ProximalMu >= 0) || !float.IsFinite(plan.ProximalMu)) throw new ArgumentException($"Proximal mu must be finite and ≥ 0, got {plan.ProximalMu}.");
        var dim = _featureLength;
        float[]? fronted = null; // the front end is frozen: its features once, not per epoch
        int[] leftOut = [];
        if (rowLengths is null && _front is not null && Spec?.Graph?.FeatureLengths is not null) rowLengths = [.. Enumerable.Repeat(SampleLength, n)]; // samples all of one length: what it makes of them may still vary
        if (_front is not null && rowLengths is { } sent) // samples of several lengths: each length through it, and the lengths of what it made (null: one shape)
        {
            (fronted, rowLengths, leftOut) = _front.FeaturesOfLengths(features, sent, _callerLengths, Spec?.Graph?.ContextLength ?? 0, Spec?.Graph?.FeatureLengths, dim);
            if (leftOut.Length > 0) (n, labels, targets) = WithoutRows(leftOut, n, labels, targets, k); // samples it refused: the others train
        }
        else if (_front is not null) fronted = _front.Features(features, n, dim, Spec?.Graph?.ContextLength ?? 0);
        if (fronted is not null) features = fronted;
        var rows = rowLengths is null ? null : SampleRows.Of(rowLengths, features.Length, _lengths);

        var anchor = initial.ToArray();
        var current = new float[_state.TotalLength]; // parameters, then zeroed optimizer state
        initial.CopyTo(current);
        var next = new float[current.Length];
        var optimizerStep = new float[1];
        var lr = new[] { plan.LearningRate };
        var mu = new[] { plan.ProximalMu };
        var loss = new float[1];
        var correct = new float[1];
        var overflow = new bool[1];
        var order = Enumerable.Range(0, n).ToArray();
        var batches = new List<(int Start, int Count)>();
        var random = new Random(plan.Seed);
        if ((rows?.FirstInvalidId(features, _lengths) ?? _feeds.FirstInvalidId(features)) is var (bad, input))
            throw new ArgumentException($"value {bad} of a sample is not {input.Expected} for input '{input.Name}'", nameof(features));
        var batchX = new float[Math.Min(plan.BatchSize, n) * dim];
        var batchY = new long[labels is null ? 0 : Math.Min(plan.BatchSize, n)];
        var batchT = new float[targets is null ? 0 : Math.Min(plan.BatchSize, n) * k];

        using var lrValue = OrtValue.CreateTensorValueFromMemory(lr, []);
        using var muValue = OrtValue.CreateTensorValueFromMemory(mu, []);
        using var stepValue = OrtValue.CreateTensorValueFromMemory(optimizerStep, []);
        var anchorValues = Bind(anchor, _layout);
        using var lossValue = OrtValue.CreateTensorValueFromMemory(loss, []);
        using var correctValue = OrtValue.CreateTensorValueFromMemory(correct, []);
        using var overflowValue = OrtValue.CreateTensorValueFromMemory(overflow, []);
        var currentValues = Bind(current, _state);
        var nextValues = Bind(next, _state);
        var rowNext = _batchOfOne ? new float[current.Length] : []; // one row's step, when the file takes one row at a time
        var rowValues = _batchOfOne ? Bind(rowNext, _state) : [];
        var probe = _batchOfOne && Optimizer == DeviceOptimizer.Adam ? new float[current.Length] : []; // the weights with zero moments: a row's step writes (1 − β₁)·its gradient
        var probeValues = probe.Length > 0 ? Bind(probe, _state) : [];
        var (rowX, rowY, rowT) = (new float[dim], new long[1], new float[k]);
        try
        {
            double epochLoss = 0, initialLoss = double.NaN;
            long epochCorrect = 0;
            var steps = 0;
            for (var epoch = 0; epoch < plan.Epochs; epoch++)
            {
                random.Shuffle(order);
                epochLoss = 0;
                epochCorrect = 0;
                var arranged = rows?.Arrange(order, plan.BatchSize, random, batches) ?? Consecutive(order, n, plan.BatchSize, batches);
                foreach (var (start, count) in batches)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    dim = rows?.Lengths[arranged[start]] ?? dim; // every sample in a batch has one length
                    for (var i = 0; i < count; i++)
                    {
                        var s = arranged[start + i];
                        features.AsSpan(rows?.Offsets[s] ?? s * dim, dim).CopyTo(batchX.AsSpan(i * dim, dim));
                        if (labels is not null) batchY[i] = labels[s];
                        else targets.AsSpan(s * k, k).CopyTo(batchT.AsSpan(i * k, k));
                    }

                    optimizerStep[0] = steps + 1;
                    if (_batchOfOne && count > 1) StepByRows(count, next);
                    else Step(batchX, batchY, batchT, count, currentValues, nextValues);

                    (current, next) = (next, current);
                    (currentValues, nextValues) = (nextValues, currentValues);
                    if (steps == 0) initialLoss = loss[0];
                    epochLoss += loss[0] * count;
                    epochCorrect += (long)correct[0];
                    steps++;
                }
            }

            // a multi-label step counts label decisions right (k per row); a class step rows right; a regressor's none
            return new LocalTrainingResult(current[.._layout.TotalLength], epochLoss / n, (double)epochCorrect / ((long)n * (Spec?.PrimaryTask is { } primary ? Math.Max(primary.Decisions, 1) : Math.Max(k, 1))), initialLoss, steps) { FrontFeatures = fronted is not null && Spec?.Graph?.FeatureLengths is { } made ? made.Summaries(fronted, n, rows?.Lengths) : fronted, LeftOut = leftOut };
        }
        finally
        {
            foreach (var v in currentValues) v.Dispose();
            foreach (var v in nextValues) v.Dispose();
            foreach (var v in anchorValues) v.Dispose();
            foreach (var v in rowValues) v.Dispose();
            foreach (var v in probeValues) v.Dispose();
        }

        // One step on the first `rows` rows of x (and y or t) from `from` into `into`; loss and correct set.
        void Step(float[] x, long[] y, float[] t, int rows, List<OrtValue> from, List<OrtValue> into)
        {
            var fed = _lengths.For(dim).Feed(x, rows); // the features (a view on the batch), then any context inputs
            using var truth = labels is not null
                ? OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, y.AsMemory(0, rows), [rows])
                : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, t.AsMemory(0, rows * k), [rows, .. _targetDims]);
            var inputs = new List<OrtValue>(from);
            inputs.AddRange(fed);
            inputs.AddRange([truth, lrValue, muValue]);
            inputs.AddRange(anchorValues);
            if (Optimizer == DeviceOptimizer.Adam) inputs.Add(stepValue);
            var outputs = new List<OrtValue>(into) { lossValue, correctValue };
            if (_flagsOverflow) outputs.Add(overflowValue);
            try
            {
                _session.Run(null, _inputNames, inputs, _outputNames, outputs);
            }
            finally
            {
                foreach (var value in fed) value.Dispose();
            }

            if (overflow[0]) // the step is not the model's on these samples: refuse them rather than train on a truncated loop
                throw new InvalidDataException("a loop the data ends ran past the iterations the train step unrolls (ModelInterface:MaxLoopTrips) on these samples; no update is made from them");
        }

        // A file that takes one row at a time: each row's step from the same weights, averaged. SGD's and momentum's
        // updates are linear in the gradient, so the mean of the rows' steps is the step on the rows' mean loss. Adam's
        // is not: each row steps from zero moments, whose new first moment is (1 − β₁)·the row's gradient, and Adam's
        // step is taken on the mean of those.
        void StepByRows(int rows, float[] into)
        {
            var adam = probe.Length > 0;
            if (adam) current.AsSpan(0, _layout.TotalLength).CopyTo(probe);
            Array.Clear(into);
            var (lossSum, correctSum) = (0.0, 0f);
            for (var r = 0; r < rows; r++)
            {
                batchX.AsSpan(r * dim, dim).CopyTo(rowX);
                if (labels is not null) rowY[0] = batchY[r];
                else batchT.AsSpan(r * k, k).CopyTo(rowT);
                Step(rowX, rowY, rowT, 1, adam ? probeValues : currentValues, rowValues);
                TensorPrimitives.Add(into, rowNext, into);
                (lossSum, correctSum) = (lossSum + loss[0], correctSum + correct[0]);
            }

            TensorPrimitives.Multiply(into, 1f / rows, into);
            if (adam) AdamStep.Apply(current, into, _layout.TotalLength, lr[0], optimizerStep[0]);
            (loss[0], correct[0]) = ((float)(lossSum / rows), correctSum);
        }
    }

    /// <summary>Samples of one length in order: batches of <paramref name="size"/> one after another.</summary>
    private static int[] Consecutive(int[] order, int n, int size, List<(int Start, int Count)> batches)
    {
        batches.Clear();
        for (var start = 0; start < n; start += size) batches.Add((start, Math.Min(size, n - start)));
        return order;
    }

    private static List<OrtValue> Bind(float[] weights, ParameterLayout layout) =>
        layout.Tensors.Select(t => OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, weights.AsMemory(t.Offset, t.Length), t.Dims)).ToList();

    public void Dispose()
    {
        _front?.Dispose();
        _session.Dispose();
    }
}
