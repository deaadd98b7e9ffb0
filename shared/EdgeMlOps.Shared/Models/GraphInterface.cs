using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// The interface of an uploaded ONNX classifier, declared once and carried in the signed manifest: the float input a
/// sample feeds (<see cref="FeaturesInput"/>, one sample of shape <see cref="SampleDims"/> behind the batch axis), the
/// output that scores the classes (<see cref="ScoresOutput"/>, [batch, classes], probabilities or logits — or, for a
/// binary classifier, [batch, 1]: one score for class 1, see <see cref="SingleScore"/>), the
/// parameters the fleet trains (names and shapes of initializers, in update order; none for a model the fleet only
/// serves, such as a tree ensemble) and the sha256 of the uploaded file.
/// </summary>
public sealed record GraphInterface
{
    public GraphInterface(string featuresInput, IReadOnlyList<long> sampleDims, string scoresOutput, bool scoresAreLogits,
        IReadOnlyList<(string Name, long[] Dims)> trained, string sourceSha256)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(featuresInput)) errors.Add("the features input has no name");
        if (string.IsNullOrEmpty(scoresOutput)) errors.Add("the scores output has no name");
        if (sampleDims.Count == 0 || sampleDims.Any(d => d <= 0)) errors.Add($"sample dims [{string.Join(", ", sampleDims)}] must be fixed and positive");
        if (trained.Any(t => string.IsNullOrEmpty(t.Name) || t.Dims.Any(d => d <= 0))) errors.Add("a trained parameter has no name or a non-positive dimension");
        if (trained.Select(t => t.Name).Distinct(StringComparer.Ordinal).Count() != trained.Count) errors.Add("a trained parameter is listed twice");
        if (sourceSha256.Length != 64 || !sourceSha256.All(char.IsAsciiHexDigitLower)) errors.Add("the source sha256 is not 64 lower-case hex digits");
        if (errors.Count > 0) throw new ArgumentException("Invalid graph interface: " + string.Join("; ", errors));
        FeaturesInput = featuresInput;
        SampleDims = sampleDims.ToArray();
        ScoresOutput = scoresOutput;
        ScoresAreLogits = scoresAreLogits;
        Trained = trained.Select(t => (t.Name, (long[])t.Dims.Clone())).ToArray();
        SourceSha256 = sourceSha256;
        FeaturesLength = checked((int)SampleDims.Aggregate(1L, (a, d) => checked(a * d)));
        SampleLength = FeaturesLength;
    }

    /// <summary>The interface of an uploaded model that is not a classifier: tensors by name (<see cref="Tensors"/>), served only.</summary>
    public GraphInterface(TensorInterface tensors)
    {
        Tensors = tensors;
        FeaturesInput = string.Empty;
        SampleDims = [];
        ScoresOutput = string.Empty;
        Trained = [];
        SourceSha256 = tensors.SourceSha256;
    }

    /// <summary>Set for a model served by tensor names (no features input, no class scores); null for a classifier.</summary>
    public TensorInterface? Tensors { get; }

    public string FeaturesInput { get; }

    public IReadOnlyList<long> SampleDims { get; }

    public string ScoresOutput { get; }

    /// <summary>True when <see cref="ScoresOutput"/> is unnormalized (softmax is applied after the run).</summary>
    public bool ScoresAreLogits { get; }

    public IReadOnlyList<(string Name, long[] Dims)> Trained { get; }

    /// <summary>The uploaded file's sha256: version 1 is served as exactly these bytes.</summary>
    public string SourceSha256 { get; }

    /// <summary>Floats in one sample: the features input's, then every context input's (<see cref="ContextInputs"/>).</summary>
    public int SampleLength { get; private init; }

    /// <summary>Floats the features input takes per sample (the start of every sample row).</summary>
    public int FeaturesLength { get; }

    /// <summary>Most context inputs an interface may declare.</summary>
    public const int MaxContextInputs = 16;

    private readonly IReadOnlyList<TensorSignature> _contextInputs = [];

    /// <summary>
    /// More inputs one sample feeds besides <see cref="FeaturesInput"/> — a category id into an embedding, a sensor's
    /// operating context, a padding mask, a categorical column as strings —, each float, int64 (ids, as
    /// <see cref="IntegerFeatures"/>), bool (flags, 0 or 1 in a row) or string (a row keeps the string's index among the
    /// input's <see cref="TensorSignature.Categories"/>, <see cref="StringCategories"/>) with fixed dims behind the batch
    /// axis (<see cref="TensorSignature.Dims"/> here exclude the batch axis). A sample row is the features' values, then
    /// each context input's in this order, so every path that keeps, sketches or trains samples keeps whole rows; the
    /// rows are split by name only where ONNX Runtime is fed (<see cref="SampleSpans"/>). Empty: the features input alone.
    /// </summary>
    public IReadOnlyList<TensorSignature> ContextInputs
    {
        get => _contextInputs;
        init
        {
            var errors = new List<string>();
            if (value.Count > MaxContextInputs) errors.Add($"at most {MaxContextInputs} context inputs, not {value.Count}");
            if (value.Count > 0 && Tensors is not null) errors.Add("context inputs are declared by a classifier, regressor, multi-label classifier or multi-task model");
            foreach (var input in value)
            {
                if (input.Type is not (TensorElement.Float or TensorElement.Int64 or TensorElement.Bool or TensorElement.String)) errors.Add($"context input '{input.Name}' is {input.Type.ToString().ToLowerInvariant()}; it must be float, int64 (ids), bool (flags) or string (categories)");
                if (input.Type == TensorElement.String && StringCategories.Problem(input.Name, input.Categories) is { } problem) errors.Add(problem);
                if (input.Type != TensorElement.String && input.Categories.Count > 0) errors.Add($"context input '{input.Name}' is {input.Type.ToString().ToLowerInvariant()}; only a string input has categories");
                if (input.Dims.Count == 0 || input.Dims.Any(d => d <= 0)) errors.Add($"context input '{input.Name}' must have fixed, positive dims behind the batch axis, not [{string.Join(", ", input.Dims)}]");
            }

            if (value.Select(i => i.Name).Append(FeaturesInput).Distinct(StringComparer.Ordinal).Count() != value.Count + 1) errors.Add("a context input is named twice or as the features input");
            errors.AddRange(StateProblems(_states, value)); // a copy with other context inputs must still hold its states
            if (errors.Count > 0) throw new ArgumentException("Invalid graph interface: " + string.Join("; ", errors));
            _contextInputs = value.ToArray();
            SampleLength = checked(FeaturesLength + value.Sum(i => i.ValueCount));
        }
    }

    /// <summary>Most state pairs an interface may declare.</summary>
    public const int MaxStates = 8;

    private readonly IReadOnlyList<(string Input, string Output)> _states = [];

    /// <summary>
    /// The state a streaming classifier or regressor carries between the calls of one session: each pair names a float
    /// context input a call starts from and the graph output (of the same shape) the next call starts from — a
    /// recurrent layer's state, batch first. A device fills the inputs from the session's last outputs (zeros for a new
    /// session), so a row it keeps holds the state its call started from, and training steps over that call with the
    /// state carried as data: back-propagation through time truncated at call boundaries, as streaming models are
    /// fine-tuned. Declared after <see cref="ContextInputs"/>; empty for a model without state.
    /// </summary>
    public IReadOnlyList<(string Input, string Output)> States
    {
        get => _states;
        init
        {
            var errors = StateProblems(value, _contextInputs).ToList();
            if (errors.Count > 0) throw new ArgumentException("Invalid graph interface: " + string.Join("; ", errors));
            _states = [.. value];
        }
    }

    /// <summary>How a card or a check names the states: <c>; state carried between a session's calls: h_out → h_in</c>; empty without any.</summary>
    public string StatesText => States.Count == 0 ? string.Empty
        : $"; state carried between a session's calls (ModelInterface:State, POST /v1/predict with \"session\"): {string.Join(", ", States.Select(s => $"{s.Output} → {s.Input}"))}";

    /// <summary>The sample row's span of each state input, in <see cref="States"/> order.</summary>
    public IReadOnlyList<SampleSpan> StateSpans() => StateSpans(SampleLength);

    /// <summary>
    /// As <see cref="StateSpans()"/> in a row of <paramref name="rowLength"/> values — a sample of another length
    /// (<see cref="Varying"/>): the states are context inputs, so they trail the features wherever those end.
    /// </summary>
    public IReadOnlyList<SampleSpan> StateSpans(int rowLength)
    {
        var spans = SampleSpans();
        var shift = rowLength - SampleLength;
        return [.. States.Select(s => spans.Single(span => span.Name == s.Input)).Select(span => span with { Offset = span.Offset + shift })];
    }

    private IEnumerable<string> StateProblems(IReadOnlyList<(string Input, string Output)> states, IReadOnlyList<TensorSignature> context)
    {
        if (states.Count > MaxStates) yield return $"at most {MaxStates} state pairs, not {states.Count}";
        foreach (var (input, output) in states)
        {
            if (context.FirstOrDefault(c => c.Name == input) is not { Type: TensorElement.Float }) yield return $"state {input}>{output}: '{input}' is not a float context input";
            if (string.IsNullOrEmpty(output) || output == ScoresOutput) yield return $"state {input}>{output}: the state output must be named, and not the scores output";
        }

        if (states.Select(s => s.Input).Distinct(StringComparer.Ordinal).Count() != states.Count || states.Select(s => s.Output).Distinct(StringComparer.Ordinal).Count() != states.Count)
            yield return "a state input or output is listed twice";
    }

    /// <summary>
    /// One input's place in a sample row: its name, first value, number of values, dims behind the batch axis, and the
    /// element type it is fed as — float, int64 ids (whole numbers in [0, 2^24) in the row), bool flags (0 or 1) or
    /// strings (the index of one of its <see cref="Categories"/>, or their count for an unknown string).
    /// </summary>
    public readonly record struct SampleSpan(string Name, int Offset, int Length, IReadOnlyList<long> Dims, TensorElement Element)
    {
        private readonly IReadOnlyList<string>? _categories;

        /// <summary>A string input's categories (<see cref="StringCategories"/>); empty for any other.</summary>
        public IReadOnlyList<string> Categories
        {
            get => _categories ?? [];
            init => _categories = value;
        }

        /// <summary>What each of its values must be, for a refusal: null for float (any finite number).</summary>
        public string? Expected => Element switch
        {
            TensorElement.Int64 => $"an id (a whole number in [0, {MaxIntegerFeature}))",
            TensorElement.Bool => "a flag (0 or 1)",
            TensorElement.String => $"a category index (a whole number in [0, {Categories.Count}]; {Categories.Count} for a string the model does not know)",
            _ => null,
        };

        /// <summary>Whether <paramref name="value"/> may be fed to this input.</summary>
        public bool Admits(float value) => Element switch
        {
            TensorElement.Int64 => IsId(value),
            TensorElement.Bool => value is 0f or 1f,
            TensorElement.String => value >= 0 && value <= Categories.Count && value == MathF.Floor(value),
            _ => true,
        };
    }

    /// <summary>Whether a sample value can be fed as an int64 id: a whole number in [0, 2^24), exact in float32.</summary>
    public static bool IsId(float value) => value >= 0 && value < MaxIntegerFeature && value == MathF.Floor(value);

    /// <summary>Where each input's values sit in a sample row: the features input first, then every context input.</summary>
    public IReadOnlyList<SampleSpan> SampleSpans() =>
        Layout(FeaturesInput, SampleDims, IntegerFeatures, ContextInputs);

    /// <summary>The row layout of a features input and its context inputs in order — for a reader that holds the interface as the manifest carries it.</summary>
    public static IReadOnlyList<SampleSpan> Layout(string featuresInput, IReadOnlyList<long> featureDims, bool integerFeatures, IEnumerable<TensorSignature> context)
    {
        var spans = new List<SampleSpan>();
        var offset = 0;
        foreach (var input in context.Prepend(new TensorSignature(featuresInput, integerFeatures ? TensorElement.Int64 : TensorElement.Float, featureDims)))
        {
            var length = input.ValueCount;
            spans.Add(new SampleSpan(input.Name, offset, length, input.Dims, input.Type) { Categories = input.Categories });
            offset = checked(offset + length);
        }

        return spans;
    }

    /// <summary>
    /// The features input is int64 (token or category ids, e.g. into an embedding): requests still send numbers, which
    /// must be whole and below 2^24 (exact in the float32 samples devices keep), and are fed as int64.
    /// </summary>
    public bool IntegerFeatures { get; init; }

    /// <summary>
    /// The scores output is [batch, 1]: one score for class 1 of two (a sigmoid's probability, or its logit when
    /// <see cref="ScoresAreLogits"/>), as binary classifiers — anomaly detectors, wake-word detectors — are exported.
    /// Devices serve it as probabilities [1 − p, p] and the fleet trains it with binary cross-entropy.
    /// </summary>
    public bool SingleScore { get; init; }

    private readonly TensorPreprocess? _preprocess;

    /// <summary>
    /// A preprocessing graph of its own in front of the classifier (a mel filterbank over raw audio): callers send
    /// samples of <see cref="SampleDims"/> into its one input, and its one output feeds <see cref="FeaturesInput"/> —
    /// when serving and, on the device, before every train step, so the fleet trains on what callers send. Null: none.
    /// </summary>
    public TensorPreprocess? Preprocess
    {
        get => _preprocess;
        init
        {
            if (value is not null && (value.Inputs.Count != 1 || value.Outputs.Count != 1 || value.Outputs[0] != FeaturesInput))
                throw new ArgumentException($"Invalid graph interface: a classifier's preprocessing graph takes one input and makes one output, the features input '{FeaturesInput}'");
            if (value is not null && (value.Inputs[0].Type != TensorElement.Float || IntegerFeatures || !value.Inputs[0].Dims.Skip(1).SequenceEqual(SampleDims) || value.Inputs[0].Dims.Count != SampleDims.Count + 1))
                throw new ArgumentException($"Invalid graph interface: the preprocessing input {value.Inputs[0].CanonicalText} does not take float samples [{string.Join(", ", SampleDims)}] behind the batch axis");
            _preprocess = value;
        }
    }

    private readonly IReadOnlyList<long> _featureDims = [];

    /// <summary>
    /// With a <see cref="Preprocess"/> front end: the features input's dims behind the batch axis (what the front end
    /// makes). Monitoring sketches these — the features the model sees — rather than the raw samples callers send.
    /// Empty without a front end (the features are the samples).
    /// </summary>
    public IReadOnlyList<long> FeatureDims
    {
        get => _featureDims;
        init
        {
            if (value.Count > 0 && !WithinFeatureLength(value))
                throw new ArgumentException($"Invalid graph interface: feature dims [{string.Join(", ", value)}] must be fixed, positive and at most {MaxFeatureLength} values");
            _featureDims = value.ToArray();
        }
    }

    private static bool WithinFeatureLength(IReadOnlyList<long> dims)
    {
        var n = 1L;
        foreach (var d in dims)
        {
            if (d <= 0) return false;
            n *= Math.Min(d, MaxFeatureLength + 1);
            if (n > MaxFeatureLength) return false;
        }

        return true;
    }

    /// <summary>Most values a front end may make per sample (a 64×64×3 image's features, a second of mel frames).</summary>
    public const long MaxFeatureLength = 1 << 20;

    /// <summary>
    /// Floats in a row the model takes: behind a front end, what it makes (<see cref="FeatureDims"/>' product) and then
    /// the context inputs' values, which do not go through it (<see cref="ContextLength"/>); else <see cref="SampleLength"/>.
    /// </summary>
    public int FeatureLength => _featureDims.Count > 0 ? checked((int)_featureDims.Aggregate(1L, (a, d) => a * d) + ContextLength) : SampleLength;

    /// <summary>Floats each row holds after the features input's: the context inputs' values (a streaming model's states among them).</summary>
    public int ContextLength => SampleLength - FeaturesLength;

    /// <summary>Most values a regressor may predict per row.</summary>
    public const int MaxRegressionTargets = 1024;

    private readonly int _regressionTargets;

    /// <summary>
    /// A regressor: <see cref="ScoresOutput"/> is [batch, k] predicted values (k = this; a forecast, a remaining life, a
    /// reading), trained with mean squared error on the float targets devices keep. 0: a classifier.
    /// </summary>
    public int RegressionTargets
    {
        get => _regressionTargets;
        init
        {
            if (value is < 0 or > MaxRegressionTargets) throw new ArgumentException($"Invalid graph interface: a regressor predicts 1 to {MaxRegressionTargets} values, not {value}");
            if (value > 0 && (SingleScore || ScoresAreLogits)) throw new ArgumentException("Invalid graph interface: a regressor's output is values, not a class score or logits");
            _regressionTargets = value;
        }
    }

    private readonly int _multiLabels;

    /// <summary>
    /// A multi-label classifier: <see cref="ScoresOutput"/> is [batch, k] independent scores (k = this), one per label —
    /// sigmoid probabilities, or their logits when <see cref="ScoresAreLogits"/> — any number of labels true per row
    /// (the objects in a scene, the faults in a machine), trained with binary cross-entropy on the 0/1 label vectors
    /// devices keep. 0: not one.
    /// </summary>
    public int MultiLabels
    {
        get => _multiLabels;
        init
        {
            if (value is < 0 or > MaxRegressionTargets) throw new ArgumentException($"Invalid graph interface: a multi-label classifier scores 1 to {MaxRegressionTargets} labels, not {value}");
            if (value > 0 && (SingleScore || RegressionTargets > 0)) throw new ArgumentException("Invalid graph interface: a multi-label classifier is neither a single-score classifier nor a regressor");
            _multiLabels = value;
        }
    }

    /// <summary>Most axes behind the batch a regressor's output may have (<see cref="ValuesDims"/>).</summary>
    public const int MaxValuesRank = 8;

    private readonly long[] _valuesDims = [];

    /// <summary>
    /// A regressor whose output has more than one axis behind the batch — a forecast [batch, horizon, channels], the lower
    /// half of a scan [batch, 4, 8] —: those axes, their product <see cref="RegressionTargets"/>; a row's values and
    /// targets are them row-major. Empty: [batch, k]. A per-position classifier's positions (the axes after its classes,
    /// <see cref="PositionClasses"/>), their product <see cref="Positions"/>.
    /// </summary>
    public IReadOnlyList<long> ValuesDims
    {
        get => _valuesDims;
        init
        {
            if (value.Count > MaxValuesRank || value.Any(d => d <= 0)) throw new ArgumentException($"Invalid graph interface: a regressor's values or a per-position classifier's positions span at most {MaxValuesRank} fixed, positive axes behind the batch, not [{string.Join(", ", value)}]");
            _valuesDims = [.. value];
        }
    }

    /// <summary>The scores output's axes behind the batch when it has several (a per-position classifier's classes first), else empty.</summary>
    public long[] ScoresDims => _positionClasses == 0 ? [.. _valuesDims] : ClassAxisLast ? [.. _valuesDims, _positionClasses] : [_positionClasses, .. _valuesDims];

    /// <summary>Most positions a per-position classifier may class per row (a 256×256 segmentation).</summary>
    public const int MaxPositions = 65_536;

    /// <summary>Most class scores a per-position classifier may make per row (classes × positions: 16 MB of floats).</summary>
    public const int MaxPositionScores = 1 << 22;

    private readonly int _positionClasses;

    /// <summary>
    /// A per-position classifier: <see cref="ScoresOutput"/> is [batch, classes, ..<see cref="ValuesDims"/>] (classes =
    /// this; PyTorch's layout for a per-pixel or per-step cross-entropy) — a segmentation's pixels, a tagged sequence's
    /// steps —, probabilities or logits (<see cref="ScoresAreLogits"/>) over the classes at every position; a row's
    /// ground truth is one class id per position, trained with softmax cross-entropy per position. 0: not one.
    /// </summary>
    public int PositionClasses
    {
        get => _positionClasses;
        init
        {
            if (value is < 0 or 1 or > MaxRegressionTargets) throw new ArgumentException($"Invalid graph interface: a per-position classifier scores 2 to {MaxRegressionTargets} classes, not {value}");
            if (value > 0 && (SingleScore || RegressionTargets > 0 || MultiLabels > 0)) throw new ArgumentException("Invalid graph interface: a per-position classifier is neither a single-score classifier, a regressor nor a multi-label classifier");
            _positionClasses = value;
        }
    }

    /// <summary>
    /// A per-position classifier whose scores are [batch, ..<see cref="ValuesDims"/>, classes] — a tagger's layout, its
    /// classes on the last axis — instead of PyTorch's cross-entropy layout with the classes on axis 1.
    /// </summary>
    public bool ClassAxisLast { get; init; }

    /// <summary>
    /// How far apart one row's scores are by class and by position: class <c>c</c> of position <c>j</c> sits at
    /// <c>c·Class + j·Position</c> (classes on axis 1, or last). Read once per batch, not per score.
    /// </summary>
    public (int Class, int Position) ScoreStrides => ClassAxisLast ? (1, _positionClasses) : (Positions, 1);

    /// <summary>True when <paramref name="value"/> is one of a per-position classifier's class ids (a whole number below <see cref="PositionClasses"/>).</summary>
    public bool IsPositionClass(float value) => value >= 0 && value < _positionClasses && value == MathF.Floor(value);

    /// <summary>Positions a per-position classifier classes per row (<see cref="ValuesDims"/>' product); 0 for another model.</summary>
    public int Positions => _positionClasses > 0 && _valuesDims.Length > 0 && _valuesDims.Aggregate(1L, (a, d) => Math.Min(a * d, MaxPositions + 1L)) is var p and <= MaxPositions ? (int)p : 0;

    /// <summary>Most free axes an interface may pin.</summary>
    public const int MaxAxisLengths = 8;

    private readonly IReadOnlyList<(string Name, long Length)> _axisLengths = [];

    /// <summary>
    /// Free axes of the uploaded file besides the batch (named by the exporter: <c>frames</c>, <c>tokens</c>), pinned at
    /// the one length the fleet serves and trains (<see cref="SampleDims"/> hold it); the file keeps them free and is
    /// served as uploaded. Empty: every axis after the batch is fixed in the file.
    /// </summary>
    public IReadOnlyList<(string Name, long Length)> AxisLengths
    {
        get => _axisLengths;
        init
        {
            if (value.Count > MaxAxisLengths || value.Any(a => string.IsNullOrEmpty(a.Name) || a.Length is < 1 or > Onnx.AxisLengths.MaxLength) || value.Select(a => a.Name).Distinct(StringComparer.Ordinal).Count() != value.Count)
                throw new ArgumentException($"Invalid graph interface: at most {MaxAxisLengths} pinned axes, each named once, from 1 to {Onnx.AxisLengths.MaxLength} long");
            _axisLengths = [.. value];
        }
    }

    private readonly SampleLengths? _varying;

    /// <summary>
    /// Samples of several lengths along one free axis of the features input (<see cref="SampleDims"/> hold the
    /// longest), or null when every sample has <see cref="SampleDims"/>; context inputs' values trail each row, at every
    /// length (<see cref="SampleLengths.Trailing"/>), a streaming model's states among them. Behind a front end these are
    /// the samples callers send (its input's), and <see cref="FeatureLengths"/> says what it makes of them.
    /// </summary>
    public SampleLengths? Varying
    {
        get => _varying;
        init
        {
            if (value is not null && (value.Axis >= SampleDims.Count || value.Longest != SampleDims[value.Axis] || value.DimsAt(value.Longest).Length != SampleDims.Count))
                throw new ArgumentException($"Invalid graph interface: samples varying along axis {value.Axis} up to {value.Longest} do not fit sample dims [{string.Join(", ", SampleDims)}]");
            if (value is not null && value.Trailing != SampleLength - FeaturesLength)
                throw new ArgumentException($"Invalid graph interface: samples varying with {value.Trailing} values after the features, the context inputs hold {SampleLength - FeaturesLength} (declare the context inputs first)");
            _varying = value;
        }
    }

    private readonly SampleLengths? _featureLengths;

    /// <summary>
    /// Behind a front end whose features vary with the samples (<see cref="Preprocess"/> with <see cref="Varying"/>):
    /// the range they vary over, along their own axis of <see cref="FeatureDims"/> (which hold the longest) — the
    /// samples' own axis and range when the front end keeps the length, the model's axis when it frames the samples
    /// (48 to 64 samples into 6 to 8 frames). Null: no front end, or one that makes features of one shape whatever the
    /// length (samples of any length resampled to one).
    /// </summary>
    public SampleLengths? FeatureLengths
    {
        get => _featureLengths;
        init
        {
            if (value is null)
            {
                _featureLengths = null;
                return;
            }

            if (_preprocess is null || (_varying is null && !_featureCountsByData) || value.Trailing != ContextLength)
                throw new ArgumentException($"Invalid graph interface: features varying along '{value.Name}' from {value.Shortest} are declared behind a front end whose samples vary, or whose counts the data decides, and only then");
            if (_featureCountsByData && value.Name == _varying?.Name)
                throw new ArgumentException("Invalid graph interface: features whose count the data decides are declared behind a front end that makes them along the model's own axis, and only then");
            if (value.Axis >= _featureDims.Count || value.Longest != _featureDims[value.Axis] || value.DimsAt(value.Longest).Length != _featureDims.Count)
                throw new ArgumentException($"Invalid graph interface: features varying along axis {value.Axis} up to {value.Longest} do not fit feature dims [{string.Join(", ", _featureDims)}]");
            _featureLengths = value;
        }
    }

    private readonly bool _featureCountsByData;

    /// <summary>
    /// True when the front end makes as many <see cref="FeatureLengths"/> as each sample's data decides (it drops a
    /// recording's silent frames, say), not as its length does: declared by the operator, the front end takes one sample
    /// at a time, and a device refuses a count outside the range. Set before <see cref="FeatureLengths"/>, which it
    /// qualifies (behind samples of one length, the only way features vary).
    /// </summary>
    public bool FeatureCountsByData
    {
        get => _featureCountsByData;
        init => _featureCountsByData = !value || _preprocess is not null ? value
            : throw new ArgumentException("Invalid graph interface: features whose count the data decides are declared behind a front end");
    }

    /// <summary>
    /// What the front end does with the samples' length, as a card or a check says it: <c>keeps the samples' 'frames'</c>,
    /// <c>makes 6 to 8 'frames' of 48 to 64 'samples'</c>, or <c>makes 1 to 8 'frames' of 6 to 8 'readings', as many as
    /// each sample's data decides</c>; null unless <see cref="FeatureLengths"/> is set.
    /// </summary>
    public string? FeatureLengthsText => _featureLengths is not { } made ? null
        : _varying is not { } samples ? string.Create(CultureInfo.InvariantCulture, $"makes {made.Shortest} to {made.Longest} '{made.Name}' of each sample, as many as its data decides")
        : made.Name == samples.Name && made.Shortest == samples.Shortest ? $"keeps the samples' '{made.Name}'"
        : string.Create(CultureInfo.InvariantCulture, $"makes {made.Shortest} to {made.Longest} '{made.Name}' of {samples.Shortest} to {samples.Longest} '{samples.Name}'{(_featureCountsByData ? ", as many as each sample's data decides" : string.Empty)}");

    /// <summary>
    /// The lengths the model's own features input varies over: <see cref="Varying"/> without a front end,
    /// <see cref="FeatureLengths"/> behind one (null when it makes one shape) — what its train step is fed and
    /// monitoring sketches by their mean over the axis.
    /// </summary>
    public SampleLengths? ModelLengths => _preprocess is null ? _varying : _featureLengths;

    private readonly int _maxLoopTrips;

    /// <summary>
    /// Iterations the train step unrolls a loop only the data ends to (<c>ModelInterface:MaxLoopTrips</c>; a batch whose
    /// loop would run longer is refused on the device); 0 when no such loop is on a trained path.
    /// </summary>
    public int MaxLoopTrips
    {
        get => _maxLoopTrips;
        init => _maxLoopTrips = value is >= 0 and <= Onnx.Training.TrainStepOptions.MaxLoopTripsLimit ? value
            : throw new ArgumentException($"Invalid graph interface: a loop bound of {value} iterations (0 to {Onnx.Training.TrainStepOptions.MaxLoopTripsLimit})");
    }

    /// <summary>True when a sample of <paramref name="values"/> values is one this interface takes: <see cref="SampleLength"/>, or a length <see cref="Varying"/> allows.</summary>
    public bool TakesSampleOf(long values) => values == SampleLength || _varying?.LengthOf(values) is not null;

    /// <summary>Most outputs a multi-task model may train at once.</summary>
    public const int MaxTasks = 8;

    private readonly IReadOnlyList<ModelTask> _tasks = [];

    /// <summary>
    /// A multi-task model: several outputs trained at once — a classifier task's class scores beside a regression task's
    /// values or a multi-label task's label scores (the digit and the lower half of a scan, an object's class, its box and
    /// its attributes) —, the first the primary, whose output is <see cref="ScoresOutput"/> and whose score is the model's
    /// accuracy for gates. A row's ground truth and a device's answer are every task's in order — a class id for a
    /// classifier task, 0/1 labels (their probabilities) for a multi-label task, the values for a regression task —,
    /// and the fleet trains the weighted sum of their losses. Empty: one output, as the other kinds.
    /// </summary>
    public IReadOnlyList<ModelTask> Tasks
    {
        get => _tasks;
        init
        {
            var errors = new List<string>();
            if (value.Count is 1 or > MaxTasks) errors.Add($"a multi-task model trains 2 to {MaxTasks} outputs, not {value.Count}");
            if (value.Count > 0 && (value[0].Output != ScoresOutput || SingleScore || ScoresAreLogits || RegressionTargets > 0 || MultiLabels > 0 || PositionClasses > 0 || ValuesDims.Count > 0))
                errors.Add("a multi-task model's scores output is its first task's, and it declares no other kind");
            if (value.Select(t => t.Output).Distinct(StringComparer.Ordinal).Count() != value.Count) errors.Add("a task's output is listed twice");
            if (value.Any(t => States.Any(s => s.Output == t.Output))) errors.Add("a task's output is a state output");
            if (value.Sum(t => (long)t.Width) > MaxRegressionTargets + MaxTasks) errors.Add($"the tasks hold {value.Sum(t => (long)t.Width)} values of ground truth per row (at most {MaxRegressionTargets + MaxTasks})");
            if (errors.Count > 0) throw new ArgumentException("Invalid graph interface: " + string.Join("; ", errors));
            _tasks = [.. value];
        }
    }

    /// <summary>Floats of ground truth per row for a regressor or a multi-label classifier (its target vector), a per-position classifier (a class id per position), a multi-task model (every task's); 0 for a single-label classifier.</summary>
    public int TargetWidth => _tasks.Count > 0 ? _tasks.Sum(t => t.Width) : RegressionTargets > 0 ? RegressionTargets : MultiLabels > 0 ? MultiLabels : Positions;

    /// <summary>How the scores output is read, in words (the model card, the CLI, the agent's local API).</summary>
    public string ScoresKind => _tasks.Count > 0 ? DescribeTasks(_tasks) : PositionClasses > 0 ? DescribePositions(PositionClasses, ValuesDims, ScoresAreLogits, ClassAxisLast) : RegressionTargets > 0 ? DescribeValues(RegressionTargets, ValuesDims) : MultiLabels > 0 ? DescribeLabels(MultiLabels, ScoresAreLogits) : DescribeScores(SingleScore, ScoresAreLogits);

    /// <summary>A multi-task model's outputs, in words.</summary>
    public static string DescribeTasks(IReadOnlyList<ModelTask> tasks) =>
        $"{tasks.Count} tasks trained at once (the first scored for gates): " + string.Join("; ", tasks.Select(t => $"{t.Describe()}{(t.Weight == 1f ? string.Empty : $", weight {t.Weight.ToString(CultureInfo.InvariantCulture)}")}"));

    /// <summary>A multi-label classifier's output, in words.</summary>
    public static string DescribeLabels(int labels, bool logits) =>
        $"{labels} independent label {(logits ? "logits (sigmoid applied on the device)" : "probabilities")} per row, any number of labels true";

    /// <summary>A per-position classifier's output, in words.</summary>
    public static string DescribePositions(int classes, IReadOnlyList<long> positions, bool logits, bool classesLast = false) =>
        $"{(logits ? "logits" : "probabilities")} of {classes} classes at each of [{string.Join(", ", positions)}] positions per row{(classesLast ? " (classes on the last axis)" : string.Empty)}{(logits ? " (softmax applied on the device)" : string.Empty)}, a class id per position";

    /// <summary>A regressor's output, in words.</summary>
    public static string DescribeValues(int targets, IReadOnlyList<long>? dims = null) =>
        targets == 1 ? "one regression value per row"
        : dims is { Count: > 1 } ? $"{targets} regression values per row, [{string.Join(", ", dims)}] row-major"
        : $"{targets} regression values per row";

    /// <inheritdoc cref="ScoresKind"/>
    public static string DescribeScores(bool singleScore, bool logits) => (singleScore, logits) switch
    {
        (true, true) => "one logit per row for class 1 of 2 (sigmoid applied on the device)",
        (true, false) => "one probability per row for class 1 of 2",
        (false, true) => "logits (softmax applied on the device)",
        _ => "probabilities",
    };

    /// <summary>Largest id an integer feature may carry (float32 holds every integer up to 2^24 exactly).</summary>
    public const int MaxIntegerFeature = 1 << 24;

    /// <summary>Every field in one line; equal texts mean equal interfaces.</summary>
    public string CanonicalText => Tensors is { } tensors ? "tensors|" + tensors.CanonicalText : string.Join('|',
        FeaturesInput + (IntegerFeatures ? ":int64" : string.Empty), string.Join('x', SampleDims.Select(d => d.ToString(CultureInfo.InvariantCulture))), ScoresOutput + (SingleScore ? ":single" : string.Empty), ScoresAreLogits ? "logits" : "probabilities",
        string.Join(';', Trained.Select(t => t.Name + ":" + string.Join('x', t.Dims.Select(d => d.ToString(CultureInfo.InvariantCulture))))), SourceSha256)
        + (RegressionTargets > 0 ? "|regression:" + RegressionTargets.ToString(CultureInfo.InvariantCulture) : string.Empty)
        + (PositionClasses > 0 ? "|positions:" + PositionClasses.ToString(CultureInfo.InvariantCulture) + (ClassAxisLast ? ":last" : string.Empty) : string.Empty)
        + (ValuesDims.Count > 0 ? "|values:" + string.Join('x', ValuesDims.Select(d => d.ToString(CultureInfo.InvariantCulture))) : string.Empty)
        + (_axisLengths.Count > 0 ? "|axes:" + Onnx.AxisLengths.Text(_axisLengths) : string.Empty)
        + (_varying is { } varying ? "|lengths:" + varying.CanonicalText : string.Empty)
        + (_featureLengths is { } made ? "|featurelengths:" + made.CanonicalText + (_featureCountsByData ? ":by-data" : string.Empty) : string.Empty)
        + (_maxLoopTrips > 0 ? "|loop-trips:" + _maxLoopTrips.ToString(CultureInfo.InvariantCulture) : string.Empty)
        + (_tasks.Count > 0 ? "|tasks:" + string.Join(';', _tasks.Select(t => t.CanonicalText)) : string.Empty)
        + (MultiLabels > 0 ? "|multilabel:" + MultiLabels.ToString(CultureInfo.InvariantCulture) : string.Empty)
        + (ContextInputs.Count > 0 ? "|context:" + string.Join(';', ContextInputs.Select(i => i.CanonicalText)) : string.Empty)
        + (States.Count > 0 ? "|states:" + string.Join(';', States.Select(s => s.Input + ">" + s.Output)) : string.Empty)
        + (Preprocess is { } p ? "|preprocess:" + p.CanonicalText + "|features:" + string.Join('x', FeatureDims.Select(d => d.ToString(CultureInfo.InvariantCulture))) : string.Empty);

    public bool Equals(GraphInterface? other) => other is not null && CanonicalText == other.CanonicalText;

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}
