namespace EdgeMlOps.Runtime;

/// <summary>
/// A regressor's predictions, or a multi-label classifier's label probabilities (after the sigmoid when it makes
/// logits): <see cref="Targets"/> values per row, row-major.
/// </summary>
public sealed record ValueBatch(float[] Values, int Targets)
{
    /// <summary>The features a declared front end made for these rows (what the model saw; for features of several lengths, each row's mean over the axis); null without one.</summary>
    public float[]? Features { get; init; }

    /// <summary>A streaming model's state outputs for these rows, one array per declared state pair (row-major); empty without state.</summary>
    public IReadOnlyList<float[]> States { get; init; } = [];

    /// <summary>
    /// What monitoring sketches of these rows' answers (prediction drift): the values themselves, or for a per-position
    /// classifier each class's share of a row's positions — bounded by the class count however many positions there are.
    /// </summary>
    public float[] Monitored => ClassShares ?? Values;

    /// <summary>A per-position classifier's share of each row's positions per class ([rows, classes]); null for another model.</summary>
    public float[]? ClassShares { get; init; }
}

/// <summary>
/// A model whose ground truth is a float vector per row (<see cref="EdgeMlOps.Shared.Models.ModelSpec.TakesTargets"/>):
/// a regressor's values or a multi-label classifier's label probabilities, and their error against the targets.
/// </summary>
public sealed partial class InferenceModel
{
    /// <summary>Probability from which a multi-label classifier's label counts as present.</summary>
    public const float LabelThreshold = 0.5f;

    /// <summary>The values a regressor predicts (or a multi-label classifier's probabilities) for <paramref name="count"/> rows of samples.</summary>
    public ValueBatch PredictValues(float[] features, int count) => PredictValues(features, count, null);

    /// <summary><see cref="PredictValues(float[], int)"/>; rows the front end refuses listed in <paramref name="leftOut"/> when given (<see cref="RunScores"/>).</summary>
    private ValueBatch PredictValues(float[] features, int count, HashSet<int>? leftOut)
    {
        if (!Spec.TakesTargets) throw new InvalidOperationException($"{Spec} is neither a regressor nor a multi-label classifier: use Predict");
        CheckRows(features, count);
        if (Spec.Graph!.Tasks is { Count: > 0 } tasks)
        {
            var outputs = RunScores(features, count, TaskScoresWidth(tasks), out var made, out var carried, leftOut);
            return new ValueBatch(TaskValues(tasks, outputs, count, Spec.Targets), Spec.Targets) { Features = made, States = carried };
        }

        if (Spec.IsPerPosition)
        {
            var scores = RunScores(features, count, Spec.Graph!.PositionClasses * Spec.Targets, out var made, out var carried, leftOut);
            var ids = PositionClassIds(scores, count);
            return new ValueBatch(ids, Spec.Targets) { Features = made, States = carried, ClassShares = ClassShares(ids, count) };
        }

        var values = RunScores(features, count, Spec.Targets, out var front, out var states, leftOut);
        if (Spec.IsMultiLabel && _scoresAreLogits) SigmoidInPlace(values);

        return new ValueBatch(values, Spec.Targets) { Features = front, States = states };
    }

    /// <summary>A per-position classifier's answer: the class id (argmax over the class axis) at every position of every row.</summary>
    private float[] PositionClassIds(float[] scores, int count)
    {
        var graph = Spec.Graph!;
        var (classes, positions) = (graph.PositionClasses, Spec.Targets);
        var ids = new float[count * positions];
        for (var row = 0; row < count; row++)
            PositionLabels(scores.AsSpan(row * classes * positions, classes * positions), classes, graph.ScoreStrides, ids.AsSpan(row * positions, positions));
        return ids;
    }

    /// <summary>The class id (the first argmax over the class axis) at every position of one row's scores, laid out by <paramref name="strides"/>.</summary>
    private static void PositionLabels(ReadOnlySpan<float> block, int classes, (int Class, int Position) strides, Span<float> into)
    {
        for (var j = 0; j < into.Length; j++)
        {
            var best = 0;
            for (var c = 1; c < classes; c++) if (block[(c * strides.Class) + (j * strides.Position)] > block[(best * strides.Class) + (j * strides.Position)]) best = c;
            into[j] = best;
        }
    }

    /// <summary>Each class's share of each row's positions, [rows, classes], from the class ids a per-position classifier answered.</summary>
    private float[] ClassShares(float[] ids, int count)
    {
        var (classes, positions) = (Spec.Graph!.PositionClasses, Spec.Targets);
        var shares = new float[count * classes];
        for (var i = 0; i < ids.Length; i++) shares[((i / positions) * classes) + (int)ids[i]] += 1f / positions;
        return shares;
    }

    /// <summary>
    /// A regressor's mean squared error and R², or a multi-label classifier's binary cross-entropy and share of label
    /// decisions right, over <paramref name="targets"/> (row-major, <see cref="EdgeMlOps.Shared.Models.ModelSpec.Targets"/> per row).
    /// </summary>
    public EvaluationScore EvaluateTargets(float[] features, float[] targets, int batchSize = 1024) =>
        EvaluateTargetCohorts(features, targets, null, batchSize)[AllCohorts];

    /// <summary>
    /// A regressor's error overall (<see cref="AllCohorts"/>) and per cohort: <see cref="EvaluationScore.Loss"/> is the
    /// mean squared error (over rows and values), <see cref="EvaluationScore.Accuracy"/> the coefficient of determination
    /// R² = 1 − SSE / SST (SST about the cohort's own target means; NaN when its targets do not vary) — higher is better,
    /// as accuracy is, so the fleet's gates read it the same way.
    /// </summary>
    /// <remarks>
    /// For a multi-label classifier <see cref="EvaluationScore.Loss"/> is the binary cross-entropy (mean over rows and
    /// labels, probabilities clamped to [1e-7, 1 − 1e-7]) and <see cref="EvaluationScore.Accuracy"/> the share of label
    /// decisions right at <see cref="LabelThreshold"/> (Hamming accuracy).
    /// </remarks>
    public IReadOnlyDictionary<string, EvaluationScore> EvaluateTargetCohorts(float[] features, float[] targets, IReadOnlyList<string>? cohorts, int batchSize = 1024)
    {
        var k = Spec.Targets;
        if (k == 0) throw new InvalidOperationException($"{Spec} is neither a regressor nor a multi-label classifier");
        if (targets.Length % k != 0) throw new ArgumentException($"{targets.Length} target values are not rows of {k}", nameof(targets));
        if (Spec.IsPerPosition && Array.FindIndex(targets, t => !Spec.Graph!.IsPositionClass(t)) is var odd and >= 0)
            throw new ArgumentException($"target {odd} is {targets[odd]}: a position's class id is a whole number below {Spec.Graph!.PositionClasses}", nameof(targets));
        for (var row = 0; Spec.IsMultiTask && row < targets.Length / k; row++)
        {
            if (Spec.TaskTargetProblem(targets.AsSpan(row * k, k)) is { } problem) throw new ArgumentException($"row {row}: {problem}", nameof(targets));
        }

        var rows = targets.Length / k;
        var dim = RowLengthOf(features, rows); // samples of one length
        if (features.Length != rows * dim || !Spec.TakesSampleOf(dim)) throw new ArgumentException($"{rows} rows of targets for {features.Length} values of samples of {Spec.SampleSizeText}", nameof(features));
        if (cohorts is not null && cohorts.Count != rows) throw new ArgumentException($"{cohorts.Count} cohort names for {rows} samples", nameof(cohorts));
        Func<ITargetSums> create = Spec.IsMultiTask ? () => new TaskSums(Spec.Graph!.Tasks) : Spec.IsMultiLabel ? () => new LabelSums() : Spec.IsPerPosition ? () => new PositionSums(Spec.Graph!.PositionClasses, Spec.Graph.Positions, Spec.Graph.ScoreStrides, _scoresAreLogits) : () => new TargetSums(k);
        var width = Spec.IsMultiTask ? TaskScoresWidth(Spec.Graph!.Tasks) : Spec.IsPerPosition ? Spec.Graph!.PositionClasses * k : k; // what each row's scores hold: a per-position classifier's every class at every position
        if (Spec.IsPerPosition) batchSize = Math.Clamp(EdgeMlOps.Shared.Models.GraphInterface.MaxPositionScores / width, 1, batchSize); // a batch's scores within 16 MB
        var sums = new Dictionary<string, ITargetSums>(StringComparer.Ordinal) { [AllCohorts] = create() };
        var leftOut = RefusedRows();
        for (var start = 0; start < rows; start += batchSize)
        {
            var count = Math.Min(batchSize, rows - start);
            var batch = features.AsSpan(start * dim, count * dim).ToArray();
            leftOut?.Clear();
            var predicted = Spec.IsPerPosition || Spec.IsMultiTask ? RunScores(batch, count, width, out _, out _, leftOut) : PredictValues(batch, count, leftOut).Values;
            for (var i = 0; i < count; i++)
            {
                if (leftOut?.Contains(i) == true) continue; // refused by the front end: left out
                var row = start + i;
                sums[AllCohorts].Add(targets.AsSpan(row * k, k), predicted.AsSpan(i * width, width));
                if (cohorts is null) continue;
                if (!sums.TryGetValue(cohorts[row], out var cohort)) sums[cohorts[row]] = cohort = create();
                cohort.Add(targets.AsSpan(row * k, k), predicted.AsSpan(i * width, width));
            }
        }

        return sums.ToDictionary(p => p.Key, p => p.Value.Score(), StringComparer.Ordinal);
    }

    /// <summary>Running sums of one cohort's error, scored at the end.</summary>
    private interface ITargetSums
    {
        void Add(ReadOnlySpan<float> target, ReadOnlySpan<float> predicted);

        EvaluationScore Score();
    }

    /// <summary>Running sums for binary cross-entropy and the share of label decisions right.</summary>
    private sealed class LabelSums(bool logits = false) : ITargetSums
    {
        private const double Clamp = 1e-7;
        private double _crossEntropy;
        private long _right;
        private long _decisions;
        private int _rows;

        public void Add(ReadOnlySpan<float> target, ReadOnlySpan<float> predicted)
        {
            for (var j = 0; j < target.Length; j++)
            {
                var p = Math.Clamp(logits ? 1 / (1 + Math.Exp(-predicted[j])) : predicted[j], Clamp, 1 - Clamp); // a multi-task model's labels arrive as its output made them
                _crossEntropy -= target[j] > 0.5f ? Math.Log(p) : Math.Log(1 - p);
                if ((p > LabelThreshold) == (target[j] > 0.5f)) _right++;
            }

            _decisions += target.Length;
            _rows++;
        }

        public EvaluationScore Score() =>
            _rows == 0 ? new EvaluationScore(double.NaN, double.NaN, 0) : new EvaluationScore(_crossEntropy / _decisions, (double)_right / _decisions, _rows);
    }

    /// <summary>
    /// Running sums for a per-position classifier: softmax cross-entropy (mean over rows and positions, probabilities
    /// clamped to [1e-7, 1]) and the share of positions whose class is the argmax; a row's scores are [classes, positions] (or [positions, classes], <see cref="Shared.Models.GraphInterface.ClassAxisLast"/>).
    /// </summary>
    /// <remarks>A multi-task model's classifier task is the case of one position (<c>positions</c> 1).</remarks>
    private sealed class PositionSums(int classes, int positions, (int Class, int Position) strides, bool logits) : ITargetSums
    {
        private readonly int _classes = classes;
        private readonly int _positions = positions;
        private readonly (int Class, int Position) _strides = strides;
        private double _crossEntropy;
        private long _right;
        private long _counted;
        private int _rows;

        public void Add(ReadOnlySpan<float> target, ReadOnlySpan<float> scores)
        {
            for (var j = 0; j < _positions; j++)
            {
                var (best, max) = (0, double.NegativeInfinity);
                var sum = 0.0;
                for (var c = 0; c < _classes; c++)
                {
                    var s = scores[(c * _strides.Class) + (j * _strides.Position)];
                    if (s > max) (best, max) = (c, s);
                }

                for (var c = 0; c < _classes; c++)
                {
                    var s = scores[(c * _strides.Class) + (j * _strides.Position)];
                    sum += logits ? Math.Exp(s - max) : s;
                }

                var truth = (int)target[j];
                var score = scores[(truth * _strides.Class) + (j * _strides.Position)];
                _crossEntropy -= logits ? score - max - Math.Log(sum) : Math.Log(Math.Clamp(score / sum, 1e-7, 1.0));
                if (best == truth) _right++;
            }

            _counted += _positions;
            _rows++;
        }

        public EvaluationScore Score() =>
            _rows == 0 ? new EvaluationScore(double.NaN, double.NaN, 0) : new EvaluationScore(_crossEntropy / _counted, (double)_right / _counted, _rows);
    }

    /// <summary>Running sums for MSE and R² (per value column: Σy, Σy², and the squared errors).</summary>
    private sealed class TargetSums(int k) : ITargetSums
    {
        private readonly double[] _sum = new double[k];
        private readonly double[] _sumSquares = new double[k];
        private double _squaredError;
        private int _rows;

        public void Add(ReadOnlySpan<float> target, ReadOnlySpan<float> predicted)
        {
            for (var j = 0; j < target.Length; j++)
            {
                var e = (double)predicted[j] - target[j];
                _squaredError += e * e;
                _sum[j] += target[j];
                _sumSquares[j] += (double)target[j] * target[j];
            }

            _rows++;
        }

        public EvaluationScore Score()
        {
            if (_rows == 0) return new EvaluationScore(double.NaN, double.NaN, 0);
            var total = 0.0;
            for (var j = 0; j < _sum.Length; j++) total += _sumSquares[j] - (_sum[j] * _sum[j] / _rows);
            return new EvaluationScore(_squaredError / (_rows * _sum.Length), total > 1e-12 ? 1 - (_squaredError / total) : double.NaN, _rows);
        }
    }
}
