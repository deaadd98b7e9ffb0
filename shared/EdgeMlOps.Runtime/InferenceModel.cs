using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>Predictions of one batch: probabilities row-major [count, classes] and labels.</summary>
public sealed record PredictionBatch(float[] Probabilities, long[] Labels, int Classes)
{
    /// <summary>
    /// The features a declared front end made for these rows, row-major (what the model saw) — for features that keep the
    /// samples' varying length, each row's mean over the axis (what monitoring sketches); null without one.
    /// </summary>
    public float[]? Features { get; init; }

    /// <summary>A streaming model's state outputs for these rows, one array per declared state pair (row-major); empty without state.</summary>
    public IReadOnlyList<float[]> States { get; init; } = [];
}

/// <summary>Loss and accuracy of a model on labelled data.</summary>
public readonly record struct EvaluationScore(double Loss, double Accuracy, int Samples)
{
    /// <summary>A multi-task model's score of each task, in task order (<see cref="Loss"/> is their weighted sum, <see cref="Accuracy"/> the first's score); null for another model.</summary>
    public IReadOnlyList<TaskScore>? Tasks { get; init; }

    /// <summary>
    /// The scores of disjoint sets (each length of samples of several lengths) as one: loss and score weighted by each
    /// set's samples (one set: its score as it is), and a multi-task model's score of each task the same way (null where
    /// a set has none); NaN over none.
    /// </summary>
    public static EvaluationScore Pooled(IEnumerable<EvaluationScore> scores)
    {
        var scored = scores.Where(s => s.Samples > 0).ToList();
        if (scored is [var only]) return only;
        var count = scored.Sum(s => s.Samples);
        if (count == 0) return new EvaluationScore(double.NaN, double.NaN, 0);
        double Weighted(Func<EvaluationScore, double> value) => scored.Sum(s => value(s) * s.Samples) / count;
        double? WeightedTask(int task, Func<TaskScore, double?> value) =>
            scored.All(s => value(s.Tasks![task]) is not null) ? scored.Sum(s => value(s.Tasks![task])!.Value * s.Samples) / count : null;
        var tasks = scored[0].Tasks is { Count: var n } first && scored.All(s => s.Tasks?.Count == n)
            ? [.. first.Select((t, k) => new TaskScore(t.Output, WeightedTask(k, x => x.Loss), WeightedTask(k, x => x.Score)))]
            : (IReadOnlyList<TaskScore>?)null;
        return new EvaluationScore(Weighted(s => s.Loss), Weighted(s => s.Accuracy), count) { Tasks = tasks };
    }
}

/// <summary>One task of a multi-task model on labelled data: its loss (cross-entropy, or MSE) and its score (accuracy, or R²); null where not a number (R² of targets that do not vary).</summary>
public sealed record TaskScore(string Output, double? Loss, double? Score);

/// <summary>
/// An inference graph loaded into ONNX Runtime. Immutable and thread-safe, so one instance can
/// serve every simulated device on the same model version.
/// </summary>
public sealed partial class InferenceModel : IDisposable, EdgeMlOps.Shared.Explanations.IProbabilityModel
{
    private static readonly string[] DenseOutputs = [ClassifierGraphs.ProbabilitiesOutput, ClassifierGraphs.LabelOutput];
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly long[] _sampleDims;
    private readonly SampleFeedsByLength? _feeds; // an uploaded graph's inputs: the features and its context inputs, at each sample length it takes
    private readonly bool _scoresAreLogits;
    private readonly IReadOnlyList<GraphInterface.SampleSpan> _stateSpans = []; // each declared state output's shape behind the batch axis
    private readonly long[] _valuesDims = []; // the scores output's axes behind the batch when it has several (a regressor's, a per-position classifier's)
    private readonly IReadOnlyList<(string Name, long[] Dims, int Width)> _scoreOutputs = []; // a multi-task model's outputs, each task's in order; empty: one
    private readonly bool _batchOfOne; // the file's batch is fixed at 1 (exported without dynamic axes): rows run one at a time
    private readonly SampleFeedsByLength? _madeFeeds; // behind a front end for one sample at a time: the model's inputs at each count it makes, to run a batch's rows together

    private InferenceModel(byte[] bytes, ModelWeights weights, OrtSessionSettings settings, byte[]? preprocess = null)
    {
        Sha256 = ContentHash.Sha256Hex(bytes);
        Weights = weights;
        var opened = OpenServing(bytes, weights.Spec, settings);
        _session = opened.Session;
        ExecutionProvider = opened.Provider;
        ProviderFallback = opened.FallbackReason;
        if (weights.Spec.Graph is { Tensors: { } tensors })
        {
            (_inputNames, _outputNames, _sampleDims) = ([], [], []);
            try
            {
                CheckDeclared(_session, tensors);
                _preprocess = PreprocessSession.Open(tensors.Preprocess, preprocess, settings);
            }
            catch
            {
                _session.Dispose();
                throw;
            }
        }
        else if (weights.Spec.Graph is { } graph)
        {
            _feeds = new SampleFeedsByLength(new SampleFeeds(graph), graph, graph.Varying); // the samples callers send (into the front end, when there is one)
            _scoreOutputs = graph.Tasks.Count > 0 ? [.. graph.Tasks.Select(t => (t.Output, t.ScoresDims, t.ScoresWidth))] : [];
            (_inputNames, _outputNames, _sampleDims, _scoresAreLogits) = (_feeds.Longest.Names, [.. _scoreOutputs.Count > 0 ? _scoreOutputs.Select(o => o.Name) : [graph.ScoresOutput], .. graph.States.Select(s => s.Output)], [.. graph.SampleDims], graph.ScoresAreLogits);
            _stateSpans = graph.StateSpans();
            _batchOfOne = OrtSessions.TakesOneRow(_session, _inputNames);
            _valuesDims = graph.ScoresDims;
            var missing = _inputNames.Select(n => (n, _session.InputMetadata)).Concat(_outputNames.Select(n => (n, _session.OutputMetadata))).Where(p => !p.Item2.ContainsKey(p.Item1)).Select(p => p.Item1).ToList();
            if (missing.Count > 0)
            {
                _session.Dispose();
                throw new InvalidDataException($"the graph has no {string.Join(" or ", missing.Select(m => $"'{m}'"))} its interface declares");
            }

            foreach (var (name, _, _, _, element) in graph.SampleSpans())
            {
                var type = _session.InputMetadata[name].ElementDataType;
                if (type != ElementType(element))
                {
                    _session.Dispose();
                    throw new InvalidDataException($"input '{name}' is {type}; the interface declares {element.ToString().ToLowerInvariant()}");
                }
            }

            try
            {
                _preprocess = PreprocessSession.Open(graph.Preprocess, preprocess, settings);
                if (_preprocess?.TakesOneSample == true && !_batchOfOne) _madeFeeds = new SampleFeedsByLength(new SampleFeeds(graph, [.. graph.FeatureDims]), graph, graph.ModelLengths);
            }
            catch
            {
                _session.Dispose();
                throw;
            }
        }
        else if (preprocess is not null)
        {
            _session.Dispose();
            throw new InvalidDataException("a preprocessing graph was given, but the interface declares none");
        }
        else
        {
            (_inputNames, _outputNames, _sampleDims) = ([ClassifierGraphs.FeaturesInput], DenseOutputs, [weights.Spec.InputDim]);
        }
    }

    /// <summary>The session that serves <paramref name="bytes"/>, reading its declared embedding too (<see cref="EmbeddingExposure"/>).</summary>
    private static OpenedSession OpenServing(byte[] bytes, ModelSpec spec, OrtSessionSettings settings)
    {
        if (spec.Graph?.Tensors?.Embedding is not { } embedding) return OrtSessions.Open(bytes, settings);
        try
        {
            return OrtSessions.Open(EmbeddingExposure.WithOutput(bytes, embedding.Name), settings);
        }
        catch (OnnxRuntimeException ex)
        {
            OrtSessions.Open(bytes, settings).Session.Dispose(); // the file alone loads (or this throws): the declared value is what is missing
            throw new InvalidDataException($"the graph computes no value named '{embedding.Name}' to watch as its embedding (ONNX Runtime: {ex.Message})", ex);
        }
    }

    /// <summary>The provider that runs this model (cpu after a fallback).</summary>
    public string ExecutionProvider { get; }

    /// <summary>Why the preferred provider is not used, or null.</summary>
    public string? ProviderFallback { get; }

    public string Sha256 { get; }

    public ModelSpec Spec => Weights.Spec;

    /// <summary>The parameters baked into the graph (the base for local training).</summary>
    public ModelWeights Weights { get; }

    /// <summary>Parses, checks and loads a generated dense classifier's inference graph. Throws <see cref="InvalidDataException"/> on a bad model.</summary>
    public static InferenceModel Load(byte[] bytes, OrtSessionSettings? settings = null)
    {
        var weights = ClassifierGraphs.ReadWeights(ClassifierGraphs.Parse(bytes));
        return new InferenceModel(bytes, weights, settings ?? OrtSessionSettings.Default);
    }

    /// <summary>
    /// Loads the inference artifact of <paramref name="spec"/>: a dense classifier (which must have exactly that
    /// architecture) or an uploaded graph, run as it is through its declared input and scores output. Throws
    /// <see cref="InvalidDataException"/> when the bytes do not match the spec.
    /// </summary>
    /// <remarks><paramref name="preprocess"/>: the file of the preprocessing graph a tensor model's interface declares (its
    /// sha256 must be the declared one); null when none is declared.</remarks>
    public static InferenceModel Load(byte[] bytes, ModelSpec spec, OrtSessionSettings? settings = null, byte[]? preprocess = null)
    {
        if (spec.Graph is null)
        {
            var model = Load(bytes, settings);
            if (model.Spec.Equals(spec)) return model;
            model.Dispose();
            throw new InvalidDataException($"the graph is {model.Spec}, not the declared {spec}");
        }

        return new InferenceModel(bytes, UploadedClassifier.ReadWeights(bytes, spec), settings ?? OrtSessionSettings.Default, preprocess);
    }

    int EdgeMlOps.Shared.Explanations.IProbabilityModel.InputDim => Spec.InputDim;

    int EdgeMlOps.Shared.Explanations.IProbabilityModel.Classes => Spec.Classes;

    float[] EdgeMlOps.Shared.Explanations.IProbabilityModel.Probabilities(float[] rows, int count) => Predict(rows, count).Probabilities;

    /// <summary>
    /// The class probabilities of <paramref name="count"/> rows, where a row the front end refuses (behind one whose counts
    /// the data decides) is all zeros — not answered, as <see cref="EdgeMlOps.Shared.Explanations.IProbabilityModel"/>
    /// allows — instead of refusing the batch: what explaining such a model on many rows needs.
    /// </summary>
    public float[] ProbabilitiesAnswered(float[] rows, int count)
    {
        var leftOut = RefusedRows();
        var probabilities = Predict(rows, count, leftOut).Probabilities;
        foreach (var row in leftOut ?? []) probabilities.AsSpan(row * Spec.Classes, Spec.Classes).Clear();
        return probabilities;
    }

    public PredictionBatch Predict(float[] features, int count) => Predict(features, count, null);

    /// <summary><see cref="Predict(float[], int)"/>; rows the front end refuses listed in <paramref name="leftOut"/> when given (<see cref="RunScores"/>).</summary>
    private PredictionBatch Predict(float[] features, int count, HashSet<int>? leftOut)
    {
        if (Tensors is not null) throw new InvalidOperationException($"{Spec} is served by tensor names: use Run");
        if (Spec.TakesTargets) throw new InvalidOperationException($"{Spec} is a regressor or multi-label classifier: use PredictValues");
        CheckRows(features, count);
        var classes = Spec.Classes;
        var labels = new long[count];
        if (Spec.Graph is null)
        {
            var dense = new float[count * classes];
            using var raw = OrtValue.CreateTensorValueFromMemory(features, [count, .. _sampleDims]);
            using var probabilitiesValue = OrtValue.CreateTensorValueFromMemory(dense, [count, classes]);
            using var labelsValue = OrtValue.CreateTensorValueFromMemory(labels, [count]);
            _session.Run(null, _inputNames, [raw], _outputNames, [probabilitiesValue, labelsValue]);
            return new PredictionBatch(dense, labels, classes);
        }

        if (Spec.Graph is { SingleScore: true })
        {
            var scores = RunScores(features, count, 1, out var front, out var singleStates, leftOut);
            var pairs = new float[count * 2];
            for (var i = 0; i < count; i++)
            {
                var p = _scoresAreLogits ? 1f / (1f + MathF.Exp(-scores[i])) : scores[i];
                (pairs[2 * i], pairs[2 * i + 1], labels[i]) = (1f - p, p, p > 0.5f ? 1 : 0);
            }

            return new PredictionBatch(pairs, labels, classes) { Features = front, States = singleStates };
        }

        var probabilities = RunScores(features, count, classes, out var made, out var states, leftOut);
        for (var i = 0; i < count; i++)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            if (_scoresAreLogits) SoftmaxInPlace(row);
            labels[i] = IndexOfMax(row);
        }

        return new PredictionBatch(probabilities, labels, classes) { Features = made, States = states };
    }

    /// <summary>Throws unless <paramref name="features"/> are <paramref name="count"/> samples of one length the model takes.</summary>
    private void CheckRows(float[] features, int count)
    {
        if (count <= 0 || features.Length % count != 0 || !Spec.TakesSampleOf(features.Length / count))
        {
            throw new ArgumentException($"Expected {count} x {Spec.SampleSizeText} features, got {features.Length} values.", nameof(features));
        }
    }

    /// <summary>Values per sample in <paramref name="features"/>, <paramref name="count"/> samples of one length (<see cref="ModelSpec.InputDim"/> for none).</summary>
    private int RowLengthOf(float[] features, int count) => count == 0 ? Spec.InputDim : features.Length / count;

    /// <summary>
    /// An uploaded graph's scores output on <paramref name="count"/> rows, [count, <paramref name="width"/>] as it makes
    /// them, behind the declared front end when there is one (<paramref name="front"/>: what it made, else null), and
    /// its declared state outputs (<paramref name="states"/>: one [count, length] array per pair). A multi-task model's
    /// rows hold every task's output in order (<paramref name="width"/> their sum).
    /// Behind a front end whose counts the data decides, when scoring, <paramref name="leftOut"/> lists the rows it
    /// refuses (their scores left zero) instead of the whole call being refused; null: a refused row refuses the call.
    /// </summary>
    private float[] RunScores(float[] features, int count, int width, out float[]? front, out float[][] states, HashSet<int>? leftOut = null)
    {
        if ((_batchOfOne && count > 1) || (leftOut is not null && count == 1)) return RunRows(features, count, width, out front, out states, leftOut);
        if (_madeFeeds is not null && count > 1) return RunMadeGroups(features, count, width, out front, out states, leftOut);
        var fed = _feeds!.For(features.Length / count).Feed(features, count); // the features, then any context inputs
        try
        {
            using var fronted = _preprocess?.Run([_preprocess.Declared.Inputs[0].Name], [fed[0]]); // a declared front end's features (one input then)
            front = fronted is null ? null : FrontFeatures(fronted[0], count, features);
            return RunModel(fronted is null ? fed : [fronted[0], .. fed.Skip(1)], count, width, out states); // the context inputs as fed, behind the front end too
        }
        finally
        {
            foreach (var value in fed) value.Dispose();
        }
    }

    /// <summary>The model itself on <paramref name="count"/> rows of its inputs: its scores output(s) as <see cref="RunScores"/> returns them, and its state outputs.</summary>
    private float[] RunModel(IReadOnlyCollection<OrtValue> inputs, int count, int width, out float[][] states)
    {
        float[][] blocks = _scoreOutputs.Count > 0 ? [.. _scoreOutputs.Select(o => new float[count * o.Width])] : [new float[count * width]];
        states = [.. _stateSpans.Select(span => new float[count * span.Length])];
        var outputs = new OrtValue[blocks.Length + states.Length];
        try
        {
            for (var k = 0; k < blocks.Length; k++)
                outputs[k] = OrtValue.CreateTensorValueFromMemory(blocks[k], _scoreOutputs.Count > 0 ? [count, .. _scoreOutputs[k].Dims] : _valuesDims.Length > 0 ? [count, .. _valuesDims] : [count, width]);
            for (var k = 0; k < states.Length; k++) outputs[blocks.Length + k] = OrtValue.CreateTensorValueFromMemory(states[k], [count, .. _stateSpans[k].Dims]);
            _session.Run(null, _inputNames, inputs, _outputNames, outputs);
        }
        finally
        {
            foreach (var output in outputs) output?.Dispose();
        }

        return blocks.Length == 1 ? blocks[0] : Interleave(blocks, count, width);
    }

    /// <summary>
    /// <see cref="RunScores"/> one row at a time (a file that takes one row, or a scored row that may be refused): the
    /// results stacked; a row the front end refuses is listed in <paramref name="leftOut"/> when given (zeros in its place).
    /// </summary>
    private float[] RunRows(float[] features, int count, int width, out float[]? front, out float[][] states, HashSet<int>? leftOut)
    {
        var length = features.Length / count;
        float[]? scores = null, made = null;
        states = [];
        for (var r = 0; r < count; r++)
        {
            float[] row;
            float[]? rowFront;
            float[][] rowStates;
            try
            {
                row = RunScores(features[(r * length)..((r + 1) * length)], 1, width, out rowFront, out rowStates);
            }
            catch (SampleRefusedException) when (leftOut is not null)
            {
                leftOut.Add(r);
                continue;
            }

            if (scores is null) (scores, made, states) = (new float[count * row.Length], new float[count * (rowFront?.Length ?? 0)], [.. rowStates.Select(s => new float[count * s.Length])]);
            row.CopyTo(scores, r * row.Length);
            rowFront?.CopyTo(made!, r * rowFront.Length);
            for (var k = 0; k < states.Length; k++) rowStates[k].CopyTo(states[k], r * rowStates[k].Length);
        }

        front = _preprocess is null ? null : made ?? [];
        return scores ?? new float[count * width]; // every row refused
    }

    /// <summary>
    /// The indices of the <paramref name="count"/> samples of one length in <paramref name="rows"/> the front end does
    /// not refuse (<see cref="RefusalOf"/>), in order: all of them, without running anything, unless its counts are the
    /// data's to decide.
    /// </summary>
    public int[] RowsTaken(float[] rows, int count)
    {
        if (Spec.Graph is not { FeatureCountsByData: true } || count == 0) return [.. Enumerable.Range(0, count)];
        var length = rows.Length / count;
        return [.. Enumerable.Range(0, count).Where(i => RefusalOf(rows[(i * length)..((i + 1) * length)]) is null)];
    }

    /// <summary>
    /// Why the declared front end refuses <paramref name="sample"/> (its values make a count outside the signed range),
    /// or null; run only behind a front end whose counts the data decides (<see cref="GraphInterface.FeatureCountsByData"/>),
    /// so ground truth it could never train on is refused when it arrives.
    /// </summary>
    public string? RefusalOf(float[] sample)
    {
        if (_preprocess is null || Spec.Graph is not { FeatureCountsByData: true } || !Spec.TakesSampleOf(sample.Length)) return null;
        var fed = _feeds!.For(sample.Length).Feed(sample, 1);
        try
        {
            using var made = _preprocess.Run([_preprocess.Declared.Inputs[0].Name], [fed[0]]);
            FrontFeatures(made[0], 1, sample);
            return null;
        }
        catch (SampleRefusedException ex)
        {
            return ex.Message;
        }
        finally
        {
            foreach (var value in fed) value.Dispose();
        }
    }

    /// <summary>
    /// What monitoring sketches of what the front end made for <paramref name="count"/> samples of one length
    /// (<paramref name="rows"/>), checked against the signed feature dims: the model's rows — what it made, then each
    /// row's context values as sent — or, for features that vary with the samples (<see cref="GraphInterface.FeatureLengths"/>),
    /// each row's mean over their axis and its context values, after checking they are a length in the signed range.
    /// </summary>
    private float[] FrontFeatures(OrtValue features, int count, float[] rows)
    {
        var values = features.GetTensorDataAsSpan<float>();
        var graph = Spec.Graph!;
        var made = graph.FeatureLengths;
        var (context, rowLength) = (graph.ContextLength, rows.Length / count);
        var length = made is null ? graph.FeatureLength - context : values.Length / count;
        if (values.Length != count * length || (made is not null && made.LengthOf(length + context) is null))
            throw new SampleRefusedException($"the preprocessing graph made {values.Length / count} values per sample; the interface declares {(made is null ? length.ToString(System.Globalization.CultureInfo.InvariantCulture) : made.Describe())}");
        var modelRows = new float[count * (length + context)];
        for (var i = 0; i < count; i++)
        {
            values.Slice(i * length, length).CopyTo(modelRows.AsSpan(i * (length + context)));
            rows.AsSpan(((i + 1) * rowLength) - context, context).CopyTo(modelRows.AsSpan((i * (length + context)) + length));
        }

        return made is null ? modelRows : made.Summaries(modelRows, count, [.. Enumerable.Repeat(length + context, count)]);
    }

    /// <summary>1 / (1 + e^−x), in place: label logits to probabilities.</summary>
    private static void SigmoidInPlace(Span<float> values)
    {
        for (var i = 0; i < values.Length; i++) values[i] = 1f / (1f + MathF.Exp(-values[i]));
    }

    /// <summary>exp(x − max) / Σ, in place.</summary>
    private static void SoftmaxInPlace(Span<float> row)
    {
        var max = row[IndexOfMax(row)];
        var sum = 0f;
        for (var k = 0; k < row.Length; k++) sum += row[k] = MathF.Exp(row[k] - max);
        for (var k = 0; k < row.Length; k++) row[k] /= sum;
    }

    /// <summary>The first index of the largest value (NaN never wins).</summary>
    private static int IndexOfMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
        return best;
    }

    /// <summary>Mean cross-entropy and accuracy over <paramref name="labels"/>, in batches.</summary>
    public EvaluationScore Evaluate(float[] features, long[] labels, int batchSize = 1024) =>
        EvaluateCohorts(features, labels, null, batchSize)[AllCohorts];

    /// <summary>The cohort name under which <see cref="EvaluateCohorts"/> reports every sample.</summary>
    public const string AllCohorts = "all";

    /// <summary>
    /// Loss and accuracy overall (<see cref="AllCohorts"/>) and per cohort, where
    /// <paramref name="cohorts"/> names each sample's cohort (null: overall only). Behind a front end whose counts the
    /// data decides, a sample it refuses is left out (the score's count says how many were scored).
    /// </summary>
    public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(float[] features, long[] labels, IReadOnlyList<string>? cohorts, int batchSize = 1024)
    {
        if (cohorts is not null && cohorts.Count != labels.Length) throw new ArgumentException($"{cohorts.Count} cohort names for {labels.Length} samples", nameof(cohorts));
        var dim = RowLengthOf(features, labels.Length); // samples of one length
        var sums = new Dictionary<string, (double Loss, long Correct, int Count)>(StringComparer.Ordinal) { [AllCohorts] = (0, 0, 0) };
        var leftOut = RefusedRows();
        for (var start = 0; start < labels.Length; start += batchSize)
        {
            var count = Math.Min(batchSize, labels.Length - start);
            var batch = features.AsSpan(start * dim, count * dim).ToArray();
            leftOut?.Clear();
            var prediction = Predict(batch, count, leftOut);
            for (var i = 0; i < count; i++)
            {
                if (leftOut?.Contains(i) == true) continue; // refused by the front end: left out
                var label = labels[start + i];
                var loss = -Math.Log(Math.Max(prediction.Probabilities[i * Spec.Classes + (int)label], 1e-12f));
                var hit = prediction.Labels[i] == label ? 1 : 0;
                Add(AllCohorts);
                if (cohorts is not null) Add(cohorts[start + i]);

                void Add(string cohort)
                {
                    var (l, c, n) = sums.GetValueOrDefault(cohort);
                    sums[cohort] = (l + loss, c + hit, n + 1);
                }
            }
        }

        return sums.ToDictionary(
            p => p.Key,
            p => p.Value.Count == 0 ? new EvaluationScore(double.NaN, double.NaN, 0) : new EvaluationScore(p.Value.Loss / p.Value.Count, (double)p.Value.Correct / p.Value.Count, p.Value.Count),
            StringComparer.Ordinal);
    }

    /// <summary>
    /// Behind a front end whose counts the data decides, where scoring lists the rows of a batch it refuses, so that
    /// they are left out of the score, as out of training, and the others are scored; null for another model.
    /// </summary>
    private HashSet<int>? RefusedRows() => Spec.Graph?.FeatureCountsByData == true ? [] : null;

    public void Dispose()
    {
        _preprocess?.Dispose();
        _session.Dispose();
    }
}
