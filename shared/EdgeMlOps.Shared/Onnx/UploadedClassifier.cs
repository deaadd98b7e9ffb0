using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>What the operator declares about an uploaded classifier; anything left null is inferred from the graph.</summary>
/// <param name="Trainable">Which parameters the fleet fine-tunes: <c>all</c>, <c>last:N</c> or names (TrainableSelection), or <c>none</c> to only serve it.</param>
public sealed record UploadedClassifierOptions(string Trainable = "last:1")
{
    /// <summary>The float input one sample feeds; null: the graph's only input.</summary>
    public string? Input { get; init; }

    /// <summary>The [batch, classes] output that scores the classes, or a binary classifier's [batch, 1] score; null: the first [batch, classes ≥ 2] output, else the first [batch, 1] one.</summary>
    public string? Output { get; init; }

    /// <summary>Whether that output is logits (softmax applied on the device) or probabilities; null: inferred from the node that makes it.</summary>
    public bool? ScoresAreLogits { get; init; }

    public DeviceOptimizer Optimizer { get; init; } = DeviceOptimizer.Sgd;

    /// <summary>Iterations the train step unrolls a loop only the data ends to (<see cref="TrainStepOptions.MaxLoopTrips"/>); null: such a loop is refused.</summary>
    public int? MaxLoopTrips { get; init; }

    /// <summary>The file of a preprocessing graph in front of the classifier (<see cref="GraphInterface.Preprocess"/>); null: none.</summary>
    public byte[]? Preprocess { get; init; }

    /// <summary>
    /// A regressor, not a classifier: the output (<see cref="Output"/>, or the first float [batch, k] one) is k predicted
    /// values, and the fleet trains it with mean squared error on float targets (<see cref="GraphInterface.RegressionTargets"/>).
    /// </summary>
    public bool Regression { get; init; }

    /// <summary>
    /// The state a streaming model carries between a session's calls (<see cref="GraphInterface.States"/>): pairs of a
    /// float context input and the graph output of the same shape the next call starts from; empty for none.
    /// </summary>
    public IReadOnlyList<(string Input, string Output)> States { get; init; } = [];

    /// <summary>
    /// A multi-label classifier: the output (<see cref="Output"/>, or the first float [batch, k] one) scores k labels
    /// independently — sigmoid probabilities, or logits — and the fleet trains it with binary cross-entropy on 0/1 label
    /// vectors (<see cref="GraphInterface.MultiLabels"/>).
    /// </summary>
    public bool MultiLabel { get; init; }

    /// <summary>
    /// A per-position classifier: the output (<see cref="Output"/>, or the first float one of rank 3 or more) is
    /// [batch, classes, positions…] class scores at every position, and the fleet trains it with softmax cross-entropy
    /// per position on a class id per position (<see cref="GraphInterface.PositionClasses"/>).
    /// </summary>
    public bool PerPosition { get; init; }

    /// <summary>A per-position classifier's scores are [batch, positions…, classes] (a tagger's layout) rather than [batch, classes, positions…].</summary>
    public bool ClassAxisLast { get; init; }

    /// <summary>
    /// A multi-task model (<see cref="GraphInterface.Tasks"/>): the outputs trained at once, each a classifier task
    /// ([batch, classes] scores), a multi-label task ([batch, k] scores) or a regression task, with its weight in the loss,
    /// the primary first; empty for one output.
    /// </summary>
    public IReadOnlyList<(string Output, EdgeMlOps.Shared.Models.ModelTaskKind Kind, float Weight)> Tasks { get; init; } = [];

    /// <summary>
    /// Free axes besides the batch pinned at the length the fleet serves and trains (<see cref="AxisLengths"/>:
    /// <c>frames=8</c>); the file keeps them free. Empty: every axis after the batch must be fixed in the file.
    /// </summary>
    public IReadOnlyList<(string Name, long Length)> AxisLengths { get; init; } = [];

    /// <summary>
    /// The one pinned axis along which samples may be shorter than its pin, down to this length
    /// (<c>AxisLengths.Range("frames=6..8")</c>); null: every sample has the pinned lengths.
    /// </summary>
    public (string Name, long Shortest)? Varying { get; init; }

    /// <summary>
    /// Behind a front end whose count each sample's data decides (one that drops a recording's silent frames): the model's
    /// own free axis it makes them along, pinned at the most it may make, and the fewest (<c>AxisLengths.MadeRange</c>:
    /// <c>frames=1..8</c> in <c>readings=6..8,frames=1..8</c>); null: the front end's shapes or a run of it tell.
    /// </summary>
    public (string Name, long Shortest)? Made { get; init; }

    /// <summary>
    /// Runs a front end's file (the fleet's pins and one sample length applied) once on a sample of zeros and returns its
    /// output's dims (<c>FrontEndRun.OutputDims</c> in EdgeMlOps.Runtime): asked for how many frames a front end makes of
    /// the shortest and the longest samples when its shapes alone do not tell. Null: the shapes decide, and a front end
    /// they say nothing of is taken as making one shape.
    /// </summary>
    public Func<byte[], long[]>? FrontDims { get; init; }
}

/// <summary>
/// An uploaded ONNX classifier made ready for the fleet without touching its graph: its interface read and checked
/// (<see cref="ModelSpec.ForGraph"/>), its train step generated once by reverse-mode differentiation, version 1 served
/// as the uploaded bytes, later versions the same file with only the trained initializers' values replaced.
/// </summary>
public sealed partial class UploadedClassifier
{
    private readonly ModelProto _model;

    /// <summary>The <see cref="UploadedClassifierOptions.Trainable"/> value of a model the fleet only serves.</summary>
    public const string ServeOnly = "none";

    private UploadedClassifier(byte[] bytes, ModelProto model, ModelSpec spec, byte[]? trainStep)
    {
        Bytes = bytes;
        _model = model;
        Spec = spec;
        TrainStep = trainStep;
    }

    /// <summary>The uploaded file, unchanged.</summary>
    public byte[] Bytes { get; }

    public ModelSpec Spec { get; }

    /// <summary>The generated train-step graph (the same for every version: trained tensors are its inputs); null when only served.</summary>
    public byte[]? TrainStep { get; }

    /// <summary>The file of the preprocessing graph in front of the model (<see cref="ModelSpec.Preprocess"/>), unchanged; or null.</summary>
    public byte[]? Preprocess { get; private init; }

    /// <summary>
    /// Reads and checks <paramref name="bytes"/> as a classifier the fleet can serve and fine-tune. Throws
    /// <see cref="InvalidDataException"/> saying what is wrong (malformed graph, no usable input or output), or
    /// <see cref="NotDifferentiableException"/> naming the op and node a gradient cannot pass.
    /// </summary>
    public static UploadedClassifier Open(byte[] bytes, UploadedClassifierOptions options)
    {
        var original = ParseWellFormed(bytes);
        var frontOriginal = options.Preprocess is { } frontBytes ? ParseWellFormed(frontBytes, "the preprocessing graph") : null;
        if (options.Made is { } second && frontOriginal is null)
            throw new InvalidDataException($"'{second.Name}={second.Shortest}..{options.AxisLengths.FirstOrDefault(p => p.Name == second.Name).Length}' is what a front end makes as each sample's data decides; this model has none: samples vary in length along one axis only");
        var (modelPins, frontPins) = PinsOf(original, frontOriginal, options.AxisLengths);
        var model = Onnx.AxisLengths.Pin(original, modelPins); // read and differentiated with its free axes pinned; served as uploaded
        var (input, sampleDims, integer, context) = FeaturesInput(model, options.Input);
        CheckStates(model, context, options.States);
        if ((options.Regression ? 1 : 0) + (options.MultiLabel ? 1 : 0) + (options.PerPosition ? 1 : 0) + (options.Tasks.Count > 0 ? 1 : 0) > 1) throw new InvalidDataException("a model is one of a regressor, a multi-label classifier, a per-position classifier or a multi-task model");
        var tasks = TasksOf(model, options);
        var vectors = options.Regression || options.MultiLabel; // ground truth is a float vector per row
        long[] valuesDims = [];
        if (options.ClassAxisLast && !options.PerPosition) throw new InvalidDataException("only a per-position classifier has its classes on the last axis");
        var (output, classes, single) = tasks.Count > 0 ? (tasks[0].Output, 0, false) : options.PerPosition ? PositionsOutput(model, options.Output, options.ClassAxisLast, out valuesDims)
            : vectors ? ValuesOutput(model, options.Output, options.Regression, out valuesDims) : ScoresOutput(model, options.Output);
        if (options.Regression && options.ScoresAreLogits == true) throw new InvalidDataException("a regressor's output is values, not logits");
        var logits = !options.Regression && tasks.Count == 0 && (options.ScoresAreLogits ?? !MadeAsProbabilities(model, output, single || options.MultiLabel));
        var targets = options.Regression ? classes : 0;
        var labels = options.MultiLabel ? classes : 0;
        var positions = options.PerPosition ? classes : 0;
        var front = frontOriginal is not null ? Front(options.Preprocess!, Onnx.AxisLengths.Pin(frontOriginal, frontPins), input, sampleDims, integer) : null;
        long[] featureDims = front is null ? [] : sampleDims; // what the front end makes: monitoring sketches it
        if (front is not null) sampleDims = [.. front.Inputs[0].Dims.Skip(1)]; // callers send what the front end takes
        if (front is not null && context.FirstOrDefault(c => c.Name == front.Inputs[0].Name) is { } clash)
            throw new InvalidDataException($"the preprocessing graph's input '{clash.Name}' is also the name of a context input of the model: callers could not tell them apart by name");
        var (callers, made) = RangesOf(frontOriginal, original, options); // the samples' range and the one the data decides behind a front end
        var varying = callers is { } range ? VaryingLengths(frontOriginal ?? original, front?.Inputs[0].Name ?? input, original, sampleDims, range, context) : null;
        var trailing = checked(context.Sum(c => c.ValueCount)); // the context inputs' values trail what it makes, as they trail the samples
        var featureLengths = frontOriginal is null ? null
            : made is { } decided ? DecidedLengths(frontOriginal, original, input, featureDims, trailing, decided)
            : varying is not null ? FeatureLengthsOf(frontOriginal, original, input, featureDims, varying, frontPins, options) : null;
        var modelVaries = front is null ? varying is not null : featureLengths is not null; // the model's own input varies: its train step keeps that axis free
        if (options.Trainable.Trim() == ServeOnly)
        {
            var served = new GraphInterface(input, sampleDims, output, logits, [], ContentHash.Sha256Hex(bytes)) { IntegerFeatures = integer, SingleScore = single, Preprocess = front, FeatureDims = featureDims, RegressionTargets = targets, ValuesDims = valuesDims, MultiLabels = labels, PositionClasses = positions, ClassAxisLast = options.ClassAxisLast, ContextInputs = context, States = options.States, Tasks = tasks, AxisLengths = options.AxisLengths, Varying = varying, FeatureCountsByData = made is not null, FeatureLengths = featureLengths };
            return new UploadedClassifier(bytes, original, SpecOf(served, classes), null) { Preprocess = options.Preprocess };
        }

        // A single score trains with binary cross-entropy on the device's class ids (0 or 1), on the logit under a final
        // Sigmoid; a multi-label classifier with binary cross-entropy on 0/1 label vectors shaped like its output (on the
        // logits under a final Sigmoid too); a regressor with mean squared error on float targets shaped like its output.
        // A per-position classifier with softmax cross-entropy per position on float class ids (cast in the step).
        var loss = options.Regression ? TrainingLoss.MeanSquaredError : single || options.MultiLabel ? TrainingLoss.BinaryCrossEntropy : TrainingLoss.SoftmaxCrossEntropy;
        // Samples of several lengths train with one step whose varying axis stays free (every other pin applied).
        var trained = modelVaries ? Onnx.AxisLengths.Pin(original, [.. modelPins.Where(a => a.Name != (featureLengths ?? varying)!.Name)]) : model; // the axis the model's input varies along left free
        var step = TrainStepGenerator.Generate(trained, new TrainStepOptions(output, loss)
        {
            Trainable = TrainableSelection.Resolve(trained, options.Trainable),
            Optimizer = options.Optimizer,
            MaxLoopTrips = options.MaxLoopTrips,
            ClassIdLabels = single,
            FloatClassIds = options.PerPosition,
            ClassAxisLast = options.ClassAxisLast,
            Tasks = [.. tasks.Select(t => new TrainingTask(t.Output, t.Kind, t.Weight))],
        });
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (step.Layout.Tensors.FirstOrDefault(t => initializers[t.Name].DataType != (int)DataType.Float) is { } wide)
            throw new InvalidDataException($"trained parameter '{wide.Name}' is not float32 (devices train float32 tensors)");
        var graph = new GraphInterface(input, sampleDims, output, logits,
            [.. step.Layout.Tensors.Select(t => (t.Name, t.Dims))], ContentHash.Sha256Hex(bytes)) { IntegerFeatures = integer, SingleScore = single, Preprocess = front, FeatureDims = featureDims, RegressionTargets = targets, ValuesDims = valuesDims, MultiLabels = labels, PositionClasses = positions, ClassAxisLast = options.ClassAxisLast, ContextInputs = context, States = options.States, Tasks = tasks, AxisLengths = options.AxisLengths, Varying = varying, FeatureCountsByData = made is not null, FeatureLengths = featureLengths,
            MaxLoopTrips = step.Model.Graph.Output.Any(o => o.Name == ClassifierGraphs.LoopOverflowOutput) ? options.MaxLoopTrips ?? 0 : 0 }; // signed only when a loop the data ends is unrolled to it
        return new UploadedClassifier(bytes, original, SpecOf(graph, classes), step.Model.ToByteArray()) { Preprocess = options.Preprocess };
    }

    /// <summary>
    /// The range samples callers send may have along <paramref name="range"/>'s axis: <paramref name="taken"/> (the model,
    /// or its front end) must declare that axis free on the input callers feed, once, and the model on no output (an
    /// output that grew with the sample would be ground truth of several sizes). Throws <see cref="InvalidDataException"/>
    /// saying which rule the files break.
    /// </summary>
    private static SampleLengths VaryingLengths(ModelProto taken, string input, ModelProto original, long[] sampleDims, (string Name, long Shortest) range, TensorSignature[] context)
    {
        var axes = Dims(taken.Graph.Input.Single(i => i.Name == input)).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == range.Name).Select(p => p.i).ToList();
        if (axes.Count != 1) throw new InvalidDataException($"samples vary along '{range.Name}', which the features input '{input}' declares {(axes.Count == 0 ? "nowhere" : axes.Count + " times")}: name one free axis of that input{(taken == original ? string.Empty : " (the preprocessing graph's, which callers feed)")}");
        if (original.Graph.Output.FirstOrDefault(o => Dims(o).Any(d => d.DimParam == range.Name)) is { } grows)
            throw new InvalidDataException($"samples vary along '{range.Name}', and output '{grows.Name}' ({OnnxModelCheck.Describe(grows)}) does too; only models whose outputs keep one size take samples of several lengths");
        try
        {
            return new SampleLengths(range.Name, axes[0], range.Shortest, sampleDims, checked(context.Sum(c => c.ValueCount)));
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
    }

    /// <summary>Whether an input of <paramref name="model"/> has its batch fixed at 1 (exported without dynamic axes): devices run and train it one row at a time.</summary>
    public static bool HasBatchOfOne(ModelProto model)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return model.Graph.Input.Any(i => !initializers.Contains(i.Name) && i.Type?.TensorType?.Shape?.Dim is { Count: > 0 } dims && dims[0].HasDimValue && dims[0].DimValue == 1);
    }

    /// <summary>Each declared state pair: a float context input, and a float graph output of its shape behind the batch axis.</summary>
    private static void CheckStates(ModelProto model, TensorSignature[] context, IReadOnlyList<(string Input, string Output)> states)
    {
        foreach (var (input, output) in states)
        {
            var fed = context.FirstOrDefault(c => c.Name == input) ?? throw new InvalidDataException($"state {input}>{output}: '{input}' is not a context input (inputs besides the features: {string.Join(", ", context.Select(c => c.Name))})");
            var made = model.Graph.Output.FirstOrDefault(o => o.Name == output) ?? throw new InvalidDataException($"state {input}>{output}: the graph has no output '{output}' (outputs: {string.Join(", ", model.Graph.Output.Select(o => o.Name))})");
            var dims = made.Type?.TensorType?.Shape?.Dim.Skip(1).Select(d => d.HasDimValue ? d.DimValue : -1).ToArray();
            if (fed.Type != TensorElement.Float || made.Type?.TensorType?.ElemType != (int)DataType.Float || dims is null || !dims.SequenceEqual(fed.Dims))
                throw new InvalidDataException($"state {input}>{output}: '{output}' is {OnnxModelCheck.Describe(made)}; it must be float [batch, {string.Join(", ", fed.Dims)}] like '{input}'");
        }
    }

    private static ModelSpec SpecOf(GraphInterface graph, int classes) => graph.TargetWidth > 0 ? ModelSpec.ForTargets(graph) : ModelSpec.ForGraph(graph, classes);

    /// <summary>
    /// A per-position classifier's output: the one named, else the first float one of rank 3 or more; (name, classes,
    /// false), <paramref name="positions"/> its axes besides the batch and the classes (axis 1, or the last with
    /// <paramref name="classesLast"/>) — fixed, or fixed by the graph where the exporter left them symbolic.
    /// </summary>
    private static (string Name, int Classes, bool Single) PositionsOutput(ModelProto model, string? wanted, bool classesLast, out long[] positions)
    {
        var facts = new GraphFacts(model.Graph);
        long[]? Axes(ValueInfoProto o) => o.Type?.TensorType?.ElemType == (int)DataType.Float && facts.InferredDims(o.Name) is { Length: >= 3 } dims && dims.Skip(1).All(d => d >= 1)
            ? [.. dims.Skip(1).Select(d => d!.Value)] : null;
        var output = wanted is null
            ? model.Graph.Output.FirstOrDefault(o => Axes(o) is not null)
              ?? throw new InvalidDataException($"no output is float [batch, classes, positions…] with fixed axes (outputs: {string.Join("; ", model.Graph.Output.Select(o => $"{o.Name} {OnnxModelCheck.Describe(o)}"))})")
            : model.Graph.Output.FirstOrDefault(o => o.Name == wanted) ?? throw new InvalidDataException($"the graph has no output '{wanted}'");
        var axes = Axes(output);
        var (classes, rest) = axes is null ? (0L, []) : classesLast ? (axes[^1], axes[..^1]) : (axes[0], axes[1..]);
        var count = rest.Aggregate(1L, (a, d) => Math.Min(a * d, GraphInterface.MaxPositions + 1L));
        if (axes is null || rest.Length > GraphInterface.MaxValuesRank || classes is < 2 or > GraphInterface.MaxRegressionTargets || count > GraphInterface.MaxPositions || classes * count > GraphInterface.MaxPositionScores)
        {
            var layout = classesLast ? "[batch, positions…, classes] (a tagger's layout: 2 to {0} classes on the last axis, after" : "[batch, classes, positions…] (PyTorch's layout for a per-position cross-entropy: 2 to {0} classes on axis 1, then";
            throw new InvalidDataException($"output '{output.Name}' is {OnnxModelCheck.Describe(output)}; a per-position classifier's scores must be float {string.Format(System.Globalization.CultureInfo.InvariantCulture, layout, GraphInterface.MaxRegressionTargets)} 1 to {GraphInterface.MaxValuesRank} fixed axes of at most {GraphInterface.MaxPositions} positions, at most {GraphInterface.MaxPositionScores} scores per row)");
        }

        positions = rest;
        return (output.Name, (int)classes, false);
    }

    /// <summary>
    /// A regressor's or multi-label classifier's output: the one named, else the first float [batch, k] one; (name, k,
    /// false). A regressor's named output may have several fixed axes behind the batch ([batch, horizon, channels]):
    /// <paramref name="valuesDims"/> are then those axes and k their product; else empty.
    /// </summary>
    private static (string Name, int Targets, bool Single) ValuesOutput(ModelProto model, string? wanted, bool regression, out long[] valuesDims)
    {
        static long[]? Declared(ValueInfoProto o) =>
            o.Type?.TensorType is { ElemType: (int)DataType.Float, Shape.Dim: { Count: >= 2 } dims } && dims.Skip(1).All(d => d.HasDimValue && d.DimValue >= 1)
                ? [.. dims.Skip(1).Select(d => d.DimValue)] : null;
        static long Columns(ValueInfoProto o) => Declared(o) is [var k] && k <= GraphInterface.MaxRegressionTargets ? k : 0;

        // An exporter often leaves the axes of a reshaped output symbolic ('Reshapebottom_dim_1'): the graph fixes them.
        long[]? Axes(ValueInfoProto o) => Declared(o) ?? (o.Type?.TensorType?.ElemType == (int)DataType.Float
            && new GraphFacts(model.Graph).InferredDims(o.Name) is { Length: >= 2 } inferred && inferred.Skip(1).All(d => d >= 1) ? [.. inferred.Skip(1).Select(d => d!.Value)] : null);
        var output = wanted is null
            ? model.Graph.Output.FirstOrDefault(o => Columns(o) >= 1)
              ?? throw new InvalidDataException($"no output is float [batch, values] with 1 to {GraphInterface.MaxRegressionTargets} values (outputs: {string.Join("; ", model.Graph.Output.Select(o => $"{o.Name} {OnnxModelCheck.Describe(o)}"))}){(regression ? "; name an output with more axes with ModelInterface:Output" : string.Empty)}")
            : model.Graph.Output.FirstOrDefault(o => o.Name == wanted) ?? throw new InvalidDataException($"the graph has no output '{wanted}'");
        valuesDims = [];
        var axes = Axes(output);
        var values = axes is null || axes.Length > GraphInterface.MaxValuesRank ? 0 : axes.Aggregate(1L, (a, d) => a > GraphInterface.MaxRegressionTargets ? a : a * Math.Min(d, GraphInterface.MaxRegressionTargets + 1));
        if (regression && axes is { Length: > 1 } && values is >= 1 and <= GraphInterface.MaxRegressionTargets)
        {
            valuesDims = axes;
            return (output.Name, (int)values, false);
        }

        var targets = Columns(output);
        return targets > 0 ? (output.Name, (int)targets, false)
            : throw new InvalidDataException(regression
                ? $"output '{output.Name}' is {OnnxModelCheck.Describe(output)}; a regressor's values must be float [batch, …] with fixed axes behind the batch (at most {GraphInterface.MaxValuesRank}) holding 1 to {GraphInterface.MaxRegressionTargets} values per row"
                : $"output '{output.Name}' is {OnnxModelCheck.Describe(output)}; a multi-label classifier's scores must be float [batch, k], 1 ≤ k ≤ {GraphInterface.MaxRegressionTargets}");
    }

    /// <summary>
    /// A classifier's front end: one float input taking samples behind a dynamic batch axis, and one float output — the
    /// classifier's features input, with its rank (<paramref name="front"/>: the file <paramref name="bytes"/> read, the
    /// fleet's pins applied). Throws <see cref="InvalidDataException"/> naming what does not fit.
    /// </summary>
    private static TensorPreprocess Front(byte[] bytes, ModelProto front, string features, long[] featureDims, bool integer)
    {
        if (integer) throw new InvalidDataException($"the features input '{features}' takes int64 ids; a preprocessing graph feeds float features");
        string input;
        long[] sampleDims;
        var initializers = front.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        if (front.Graph.Input.Where(i => !initializers.Contains(i.Name)).Select(i => i.Name).ToList() is { Count: not 1 } inputs)
            throw new InvalidDataException($"the preprocessing graph takes one input, the samples callers send; it takes {inputs.Count} ({string.Join(", ", inputs)})");
        try
        {
            (input, sampleDims, var ids, _) = FeaturesInput(front, null);
            if (ids) throw new InvalidDataException($"input '{input}' takes int64; callers send float samples");
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException("the preprocessing graph: " + ex.Message, ex);
        }

        var made = front.Graph.Output.ToList();
        if (made.Count != 1 || made[0].Name != features || made[0].Type?.TensorType is not { ElemType: (int)DataType.Float } type || type.Shape?.Dim.Count != featureDims.Length + 1)
            throw new InvalidDataException($"the preprocessing graph must make one float output, the features input '{features}' with {featureDims.Length + 1} axes; it makes {string.Join("; ", made.Select(o => $"{o.Name} {OnnxModelCheck.Describe(o)}"))}");
        return new TensorPreprocess(ContentHash.Sha256Hex(bytes), bytes.LongLength, [new TensorSignature(input, TensorElement.Float, [-1, .. sampleDims])], [features]);
    }

    /// <summary>
    /// Reads and checks <paramref name="bytes"/> as a model the fleet serves by tensor names and does not train (a
    /// regressor, a scorer, an embedding, several inputs, recurrent <paramref name="states"/>); see <see cref="TensorInterfaceReader"/>.
    /// </summary>
    /// <remarks><paramref name="embedding"/>, when given, must be a value the graph computes (its width is measured by a run, not here);
    /// <paramref name="scalings"/> normalize float inputs on the device (<see cref="InputScaling"/>), <paramref name="windows"/>
    /// assemble streamed inputs (<see cref="InputWindow"/>), <paramref name="preprocess"/> is the file of a preprocessing
    /// graph that fronts the model (<see cref="TensorPreprocess"/>).</remarks>
    public static UploadedClassifier OpenTensors(byte[] bytes, IReadOnlyList<(string Input, string Output)> states, IReadOnlyList<string>? outputs = null, TensorEmbedding? embedding = null, IReadOnlyList<InputScaling>? scalings = null, IReadOnlyList<InputWindow>? windows = null, byte[]? preprocess = null)
    {
        var model = ParseWellFormed(bytes);
        var tensors = TensorInterfaceReader.Read(model, bytes, states, outputs);
        if (preprocess is not null) tensors = TensorInterfaceReader.Fronted(tensors, ParseWellFormed(preprocess, "the preprocessing graph"), preprocess);
        try
        {
            tensors = tensors with { Scalings = scalings ?? [], Windows = windows ?? [] };
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }

        if (embedding is not null)
        {
            try
            {
                tensors = tensors with { Embedding = embedding };
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException(ex.Message, ex);
            }

            EmbeddingExposure.CheckNamed(model, embedding.Name);
        }

        return new UploadedClassifier(bytes, model, ModelSpec.ForTensors(tensors), null) { Preprocess = preprocess };
    }

    private static ModelProto ParseWellFormed(byte[] bytes, string what = "the model")
    {
        ModelProto model;
        try
        {
            model = ClassifierGraphs.Parse(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException($"{what} is not an ONNX model: " + ex.Message, ex);
        }

        if (OnnxModelCheck.Problems(model) is { Count: > 0 } problems) throw new InvalidDataException($"{what} is not well formed: " + string.Join("; ", problems));
        return model;
    }

    /// <summary>The weights the uploaded file holds (version 1's).</summary>
    public ModelWeights InitialWeights() => Read(_model, Spec);

    /// <summary>
    /// The inference artifact for <paramref name="weights"/>: the uploaded bytes if they are its own; else the uploaded
    /// bytes with the new values written over the trained initializers' raw data, every other byte the user's; and only
    /// when a trained tensor is not stored as raw data (or the file is not plain enough to find it), the same graph
    /// with the trained initializers replaced, encoded again.
    /// </summary>
    public byte[] InferenceBytes(ModelWeights weights)
    {
        if (!weights.Spec.Equals(Spec)) throw new ArgumentException($"weights of {weights.Spec}, not {Spec}", nameof(weights));
        if (weights.Values.AsSpan().SequenceEqual(InitialWeights().Values)) return Bytes;
        if (InitializerRawSpans.Find(Bytes) is { } spans
            && weights.Layout.Tensors.All(t => spans.TryGetValue(t.Name, out var span) && span.Length == t.Length * sizeof(float)))
        {
            var patched = (byte[])Bytes.Clone();
            foreach (var tensor in weights.Layout.Tensors)
            {
                var (offset, length) = spans[tensor.Name];
                MemoryMarshal.AsBytes(weights.Slice(tensor)).CopyTo(patched.AsSpan(offset, length));
            }

            return patched;
        }

        var copy = _model.Clone();
        var byName = copy.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var tensor in weights.Layout.Tensors)
        {
            var initializer = byName[tensor.Name];
            initializer.FloatData.Clear();
            initializer.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(weights.Slice(tensor)));
        }

        return copy.ToByteArray();
    }

    /// <summary>
    /// The trained weights in any version's inference bytes, checked against the signed interface: every declared
    /// tensor present as a float32 initializer of the declared shape. Throws <see cref="InvalidDataException"/> otherwise.
    /// </summary>
    public static ModelWeights ReadWeights(byte[] bytes, ModelSpec spec)
    {
        try
        {
            return Read(ClassifierGraphs.Parse(bytes), spec);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new InvalidDataException("not an ONNX model: " + ex.Message, ex);
        }
    }

    private static ModelWeights Read(ModelProto model, ModelSpec spec)
    {
        var layout = ParameterLayout.For(spec);
        var byName = model.Graph?.Initializer.GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal) ?? [];
        var values = new float[layout.TotalLength];
        foreach (var tensor in layout.Tensors)
        {
            if (!byName.TryGetValue(tensor.Name, out var initializer)) throw new InvalidDataException($"the graph has no initializer '{tensor.Name}' the interface trains");
            if (initializer.DataType != (int)DataType.Float || !initializer.Dims.SequenceEqual(tensor.Dims))
                throw new InvalidDataException($"initializer '{tensor.Name}' is not float32 [{string.Join(", ", tensor.Dims)}] as the interface declares");
            OnnxTensors.ReadFloats(initializer, values.AsSpan(tensor.Offset, tensor.Length));
        }

        return new ModelWeights(spec, values);
    }

    /// <summary>
    /// The features input (the one named, else the graph's only input) and, when the graph has more, the others as
    /// context inputs in graph order — each float, int64, bool or string (its categories read from the encoders it
    /// feeds, <see cref="StringInputCategories"/>) with a dynamic batch axis and fixed axes after it.
    /// </summary>
    private static (string Name, long[] SampleDims, bool Integer, TensorSignature[] Context) FeaturesInput(ModelProto model, string? wanted)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var input = wanted is null
            ? inputs.Count == 1 ? inputs[0] : throw new InvalidDataException($"the graph has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}): name the features input (the others become context inputs)")
            : inputs.FirstOrDefault(i => i.Name == wanted) ?? throw new InvalidDataException($"the graph has no input '{wanted}' (inputs: {string.Join(", ", inputs.Select(i => i.Name))})");
        var (sampleDims, element) = SampleAxes(input, "the features input", flags: false);
        if (inputs.Count - 1 > GraphInterface.MaxContextInputs) throw new InvalidDataException($"the graph has {inputs.Count} inputs; a sample feeds the features input and at most {GraphInterface.MaxContextInputs} context inputs");
        var context = inputs.Where(i => i != input).Select(i => SampleAxes(i, "a context input", flags: true) is var (dims, type)
            ? new TensorSignature(i.Name, type, dims) { Categories = type == TensorElement.String ? StringInputCategories.Read(model.Graph, i.Name) : [] } : null!).ToArray();
        return (input.Name, sampleDims, element == TensorElement.Int64, context);
    }

    /// <summary>An input's axes behind its batch axis (dynamic, or fixed at 1 by an export without dynamic axes), all fixed, and what it takes: floats, int64 ids or (a context input, <paramref name="flags"/>) bool flags or strings.</summary>
    private static (long[] Dims, TensorElement Element) SampleAxes(ValueInfoProto input, string role, bool flags)
    {
        var type = input.Type?.TensorType;
        if (type is null || !(type.ElemType is (int)DataType.Float or (int)DataType.Int64 || (flags && type.ElemType is (int)DataType.Bool or (int)DataType.String)))
            throw new InvalidDataException($"input '{input.Name}' is {OnnxModelCheck.Describe(input)}; {role} must be float or int64 (ids){(flags ? ", bool (flags) or string (categories)" : string.Empty)}");
        var dims = type.Shape?.Dim.ToList() ?? [];
        if (dims.Count < 2) throw new InvalidDataException($"input '{input.Name}' is {OnnxModelCheck.Describe(input)}; expected a batch axis and the sample's axes");
        if (dims[0].HasDimValue && dims[0].DimValue is not (0 or 1)) // 1: exported without dynamic_axes; devices run and train it one row at a time
            throw new InvalidDataException($"input '{input.Name}' has a fixed batch of {dims[0].DimValue}; export it with a dynamic batch axis (or with a batch of 1, which devices run one row at a time)");
        if (dims.Skip(1).FirstOrDefault(d => d.HasDimParam) is { } free)
            throw new InvalidDataException($"input '{input.Name}' is {OnnxModelCheck.Describe(input)}; every axis after the batch must be fixed — pin the free one at the length the fleet serves and trains: ModelInterface:AxisLengths={free.DimParam}=N");
        if (dims.Skip(1).Any(d => !d.HasDimValue || d.DimValue <= 0)) throw new InvalidDataException($"input '{input.Name}' is {OnnxModelCheck.Describe(input)}; every axis after the batch must be fixed");
        return ([.. dims.Skip(1).Select(d => d.DimValue)], type.ElemType switch { (int)DataType.Int64 => TensorElement.Int64, (int)DataType.Bool => TensorElement.Bool, (int)DataType.String => TensorElement.String, _ => TensorElement.Float });
    }

    /// <summary>The scores output: float [batch, classes ≥ 2], or [batch, 1] — one score for class 1 of two (<see cref="GraphInterface.SingleScore"/>).</summary>
    private static (string Name, int Classes, bool Single) ScoresOutput(ModelProto model, string? wanted)
    {
        static long Columns(ValueInfoProto o) =>
            o.Type?.TensorType is { ElemType: (int)DataType.Float, Shape.Dim: { Count: 2 } dims } && dims[1].HasDimValue && dims[1].DimValue is >= 1 and <= 1_000_000 ? dims[1].DimValue : 0;
        var output = wanted is null
            ? model.Graph.Output.FirstOrDefault(o => Columns(o) >= 2) ?? model.Graph.Output.FirstOrDefault(o => Columns(o) == 1)
              ?? throw new InvalidDataException($"no output is float [batch, classes ≥ 2] or a binary classifier's [batch, 1] score (outputs: {string.Join("; ", model.Graph.Output.Select(o => $"{o.Name} {OnnxModelCheck.Describe(o)}"))})")
            : model.Graph.Output.FirstOrDefault(o => o.Name == wanted) ?? throw new InvalidDataException($"the graph has no output '{wanted}'");
        return Columns(output) switch
        {
            1 => (output.Name, 2, true),
            0 => throw new InvalidDataException($"output '{output.Name}' is {OnnxModelCheck.Describe(output)}; class scores must be float [batch, classes ≥ 2], or [batch, 1] for a binary classifier's score"),
            var classes => (output.Name, (int)classes, false),
        };
    }

    /// <summary>
    /// Whether <paramref name="output"/> is normalized already: made (through Identity nodes) by a Softmax, or by an
    /// <c>ai.onnx.ml</c> classifier, whose scores converters write as class probabilities (a forest's mean votes);
    /// scores that are each their own probability (a single score, a multi-label classifier's — <paramref name="sigmoid"/>) by a Sigmoid.
    /// </summary>
    public static bool MadeAsProbabilities(ModelProto model, string output, bool sigmoid)
    {
        var producers = model.Graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).GroupBy(p => p.o, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().n, StringComparer.Ordinal);
        var name = output;
        while (producers.TryGetValue(name, out var node))
        {
            if (sigmoid ? node.OpType == "Sigmoid" : node.OpType == "Softmax" || (node.Domain == "ai.onnx.ml" && node.OpType.EndsWith("Classifier", StringComparison.Ordinal))) return true;
            if (node.OpType != "Identity") return false;
            name = node.Input[0];
        }

        return false;
    }
}
