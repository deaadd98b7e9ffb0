using System.CommandLine;
using System.Globalization;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary>
/// <c>edgemlops models check FILE</c>: an ONNX file examined offline, before any upload — whether it is well formed
/// (ONNX's structural rules), its interface, its operators and parameters, and what a train step generated from it
/// would train (or exactly why it cannot be generated). Exit 0 when all is well, 1 when something is refused.
/// </summary>
internal static class ModelCheckCommand
{
    public static Command Create(IAnsiConsole console)
    {
        var file = new Argument<FileInfo>("file") { Description = "ONNX model" };
        var output = new Option<string?>("--output") { Description = "The model output the loss is taken on (default: the scores output the fleet would train, else 'probabilities')" };
        var loss = new Option<string?>("--loss") { Description = "softmax-ce, binary-ce or mse (default: what the fleet would train with: binary-ce for one score per row, else softmax-ce)" };
        var trainable = new Option<string>("--trainable") { Description = "What trains: all, last:N (the last N layers), comma-separated initializer names, or none (inference only)", DefaultValueFactory = _ => "all" };
        var optimizer = new Option<string>("--optimizer") { Description = "sgd, momentum or adam", DefaultValueFactory = _ => "sgd" };
        var writeStep = new Option<FileInfo?>("--train-step") { Description = "Write the generated train-step graph to this file" };
        var preprocess = new Option<FileInfo?>("--preprocess") { Description = "An ONNX preprocessing graph the device would run before the model (ModelInterface:Preprocess): the interface callers would then feed" };
        var input = new Option<string?>("--input") { Description = "The features input of a model with several inputs (ModelInterface:Input); the others become context inputs each sample also carries" };
        var state = new Option<string?>("--state") { Description = "A streaming model's state, INPUT>OUTPUT pairs comma-separated (ModelInterface:State): a context input each call starts from and the output the next one does" };
        var classAxis = new Option<string>("--class-axis") { Description = "A per-position classifier's classes: 1 ([batch, classes, positions…]) or last ([batch, positions…, classes], a tagger's) (ModelInterface:ClassAxis)", DefaultValueFactory = _ => "1" };
        var tasks = new Option<string?>("--tasks") { Description = "A multi-task model's outputs, OUTPUT:classes|regression|labels|positions|tags[:WEIGHT] comma-separated, the primary first (ModelInterface:Kind=multitask, ModelInterface:Tasks): the weighted sum of their losses trains" };
        var axisLengths = new Option<string?>("--axis-lengths") { Description = "Free axes besides the batch pinned at the length the fleet serves and trains, NAME=LENGTH comma-separated, one perhaps NAME=SHORTEST..LONGEST for samples of several lengths and after it the model's FRAMES=FEWEST..MOST a front end makes as each sample's data decides (ModelInterface:AxisLengths)" };
        var maxLoopTrips = new Option<int?>("--max-loop-trips") { Description = "Unroll a loop only the data ends (a while) to this many iterations, 1 to 1024 (ModelInterface:MaxLoopTrips); a batch whose loop runs longer is refused on the device" };
        var command = new Command("check", "Check an ONNX model offline: well formed, its interface and operators, and what the fleet could fine-tune") { file, output, loss, trainable, optimizer, writeStep, preprocess, input, state, classAxis, tasks, axisLengths, maxLoopTrips };
        command.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var path = r.GetValue(file)!;
            var bytes = await File.ReadAllBytesAsync(path.FullName, ct).ConfigureAwait(false);
            var front = r.GetValue(preprocess) is { } f ? await File.ReadAllBytesAsync(f.FullName, ct).ConfigureAwait(false) : null;
            var states = (r.GetValue(state) ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(pair => pair.Split('>', StringSplitOptions.TrimEntries) is [{ Length: > 0 } i, { Length: > 0 } o] ? (i, o) : throw new AdminApiException(0, $"--state: '{pair}' is not INPUT>OUTPUT")).ToArray();
            var classesLast = r.GetValue(classAxis) switch { "1" => false, "last" => true, var other => throw new AdminApiException(0, $"--class-axis: '{other}' is not 1 or last") };
            var declared = r.GetValue(tasks) is { } text ? Parsed(text, ModelTask.Parse, "--tasks") : [];
            var pinned = r.GetValue(axisLengths) is { } lengths ? Parsed(lengths, AxisLengths.Parse, "--axis-lengths") : [];
            Check(console, path.Name, bytes, new Asked(r.GetValue(output), r.GetValue(input), r.GetValue(trainable)!, front) { States = states, ClassAxisLast = classesLast, Tasks = declared, AxisLengths = pinned, Varying = r.GetValue(axisLengths) is { } range && pinned.Count > 0 ? AxisLengths.Range(range) : null, Made = r.GetValue(axisLengths) is { } second && pinned.Count > 0 ? AxisLengths.MadeRange(second) : null, MaxLoopTrips = r.GetValue(maxLoopTrips) }, r.GetValue(loss), r.GetValue(optimizer)!, r.GetValue(writeStep));
        }));
        return command;
    }

    /// <summary>What the operator asked the fleet's interface to be: the scores output, the features input, what trains, a front end.</summary>
    private sealed record Asked(string? Output, string? Input, string Trainable, byte[]? Preprocess)
    {
        public IReadOnlyList<(string Input, string Output)> States { get; init; } = [];

        /// <summary>A per-position classifier's classes are its output's last axis.</summary>
        public bool ClassAxisLast { get; init; }

        /// <summary>A multi-task model's outputs (<c>--tasks</c>); empty: one output.</summary>
        public IReadOnlyList<(string Output, EdgeMlOps.Shared.Models.ModelTaskKind Kind, float Weight)> Tasks { get; init; } = [];

        /// <summary>Free axes pinned (<c>--axis-lengths</c>); empty: none.</summary>
        public IReadOnlyList<(string Name, long Length)> AxisLengths { get; init; } = [];

        /// <summary>Iterations a loop only the data ends is unrolled to (<c>--max-loop-trips</c>); null: refused.</summary>
        public int? MaxLoopTrips { get; init; }

        /// <summary>The pinned axis samples may be shorter along, down to its shortest (<c>NAME=SHORTEST..LONGEST</c>); null: one length.</summary>
        public (string Name, long Shortest)? Varying { get; init; }

        /// <summary>Behind a front end whose count each sample's data decides, the model's axis and the fewest it makes (a second range); null: none.</summary>
        public (string Name, long Shortest)? Made { get; init; }

        /// <summary>What every reading of the file as the fleet's model is asked with: its inputs, front end, state, pins and loop bound (each kind adds its own).</summary>
        public UploadedClassifierOptions Options => new(Trainable)
        {
            Output = Output, Input = Input, Preprocess = Preprocess, States = States, AxisLengths = AxisLengths, Varying = Varying, Made = Made, MaxLoopTrips = MaxLoopTrips,
        };
    }

    private static T Parsed<T>(string text, Func<string, T> parse, string option)
    {
        try
        {
            return parse(text);
        }
        catch (ArgumentException ex)
        {
            throw new AdminApiException(0, $"{option}: {ex.Message}");
        }
    }

    private static void Check(IAnsiConsole console, string name, byte[] bytes, Asked asked, string? lossText, string optimizerText, FileInfo? writeStep)
    {
        var (outputText, trainableText, preprocess) = (asked.Output, asked.Trainable, asked.Preprocess);
        ModelProto model;
        try
        {
            model = ClassifierGraphs.Parse(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new AdminApiException(0, $"{name} is not an ONNX model: {ex.Message}");
        }

        var opsets = string.Join(", ", model.OpsetImport.Select(o => $"{(o.Domain is "" ? "ai.onnx" : o.Domain)} {o.Version}"));
        Line(console, $"{name}: {bytes.Length.ToString("N0", CultureInfo.InvariantCulture)} bytes, sha256 {ContentHash.Sha256Hex(bytes)}; IR {model.IrVersion}; opsets {opsets}; producer {model.ProducerName} {model.ProducerVersion}".TrimEnd());
        var graph = model.Graph ?? new GraphProto();
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        Line(console, "inputs:    " + string.Join("; ", graph.Input.Where(i => !initializers.Contains(i.Name)).Select(i => $"{i.Name} {OnnxModelCheck.Describe(i)}")));
        Line(console, "outputs:   " + string.Join("; ", graph.Output.Select(o => $"{o.Name} {OnnxModelCheck.Describe(o)}")));
        Line(console, "operators: " + string.Join(", ", OnnxModelCheck.OpHistogram(model).Select(p => $"{p.Op} ×{p.Count}")));
        var values = graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
        Line(console, $"tensors:   {graph.Initializer.Count} initializers, {values.ToString("N0", CultureInfo.InvariantCulture)} values");

        var problems = OnnxModelCheck.Problems(model);
        if (problems.Count > 0) throw new AdminApiException(0, $"{name} is not a well-formed ONNX model:\n  " + string.Join("\n  ", problems));
        Line(console, "well formed: yes (ONNX's structural rules)");
        if (asked.Tasks.Count > 0)
        {
            TasksInterface(console, name, bytes, asked, optimizerText, writeStep);
            return;
        }

        var chosen = asked with { Output = graph.Output.Any(o => o.Name == outputText) ? outputText : null };
        var fleet = FleetInterface(console, bytes, chosen);
        if (fleet is { SingleScore: true } || lossText == "mse") TargetsInterface(console, bytes, chosen, multiLabel: false);
        if (lossText == "binary-ce" || (fleet is { SingleScore: false } f && UploadedClassifier.MadeAsProbabilities(model, f.ScoresOutput, sigmoid: true))) TargetsInterface(console, bytes, chosen, multiLabel: true);
        var positions = fleet is null && lossText is null or "softmax-ce" ? PositionsInterface(console, bytes, chosen) : null; // asked about another loss: not this kind
        TensorsInterface(console, model, bytes, preprocess);
        if (trainableText.Trim() == UploadedClassifier.ServeOnly) return;

        // Unless told otherwise, the train step the fleet would generate: on its scores output, binary cross-entropy on
        // class ids for one score per row.
        var output = outputText ?? fleet?.ScoresOutput ?? positions?.ScoresOutput ?? (graph.Output.Count == 1 ? graph.Output[0].Name : ClassifierGraphs.ProbabilitiesOutput);
        var classIds = lossText is null && fleet is { SingleScore: true };
        lossText ??= classIds ? "binary-ce" : "softmax-ce";
        var loss = TrainingNames.Loss(lossText) ?? throw new AdminApiException(0, $"--loss: '{lossText}' is not {TrainingNames.Losses}");
        var optimizer = TrainingNames.Optimizer(optimizerText) ?? throw new AdminApiException(0, $"--optimizer: '{optimizerText}' is not {TrainingNames.Optimizers}");
        var perPosition = loss == TrainingLoss.SoftmaxCrossEntropy && output == positions?.ScoresOutput; // a class id per position, as devices keep it
        GeneratedTrainStep step;
        try
        {
            var options = new TrainStepOptions(output, loss)
            {
                Trainable = TrainableSelection.Resolve(model, trainableText), Optimizer = optimizer, ClassIdLabels = classIds, MaxLoopTrips = asked.MaxLoopTrips,
                FloatClassIds = perPosition,
                ClassAxisLast = perPosition && asked.ClassAxisLast,
            };
            step = TrainStepGenerator.Generate(AxisLengths.Pin(model, [.. asked.AxisLengths.Where(a => a.Name != asked.Varying?.Name)]), options); // generated with the free axes pinned, as the fleet's (one that varies left free)
        }
        catch (Exception ex) when (ex is NotDifferentiableException or InvalidDataException)
        {
            throw new AdminApiException(0, $"no train step for {name}: {ex.Message}");
        }

        Line(console, $"train step: {lossText}{(classIds ? " on class ids 0/1" : perPosition ? " per position" : string.Empty)} on '{output}', {optimizerText}; trains {step.Layout.Tensors.Count} tensors, {step.Layout.TotalLength.ToString("N0", CultureInfo.InvariantCulture)} values: "
            + string.Join(", ", step.Layout.Tensors.Select(t => $"{t.Name} [{string.Join(", ", t.Dims)}]")));
        var frozen = graph.Initializer.Count - step.Trained.Count;
        if (frozen > 0) Line(console, $"frozen:    {frozen} initializers (evaluated forward only)");
        if (step.Model.Graph.Output.Any(o => o.Name == ClassifierGraphs.LoopOverflowOutput))
            Line(console, $"           a loop only the data ends is unrolled to {asked.MaxLoopTrips} iterations; a batch whose loop runs longer is refused on the device");
        if (writeStep is not null)
        {
            File.WriteAllBytes(writeStep.FullName, step.Model.ToByteArray());
            Line(console, $"wrote {writeStep.FullName} ({step.Model.Graph.Node.Count} nodes)");
        }
    }

    /// <summary>
    /// The interface the fleet would serve and train the file through as its model (<c>Aggregator:Model=onnx:FILE</c>),
    /// inferred as the aggregator infers it, for the operator to confirm — or why the file cannot be the fleet's model.
    /// </summary>
    private static GraphInterface? FleetInterface(IAnsiConsole console, byte[] bytes, Asked asked)
    {
        try
        {
            var spec = UploadedClassifier.Open(bytes, asked.Options).Spec;
            var g = spec.Graph!;
            var into = g.Preprocess is { } front
                ? $"into the front end's '{front.Inputs[0].Name}', which makes '{g.FeaturesInput}' [{string.Join(", ", g.FeatureDims)}]"
                : $"into '{g.FeaturesInput}'" + Context(g);
            Line(console, $"as the fleet's model (Aggregator:Model=onnx:FILE, ModelInterface:Trainable={asked.Trainable.Trim()}{(g.Preprocess is null ? string.Empty : ", ModelInterface:Preprocess=FILE")}{(g.AxisLengths.Count == 0 ? string.Empty : ", ModelInterface:AxisLengths=" + AxisLengths.Text(g.AxisLengths, g.Varying, g.FeatureCountsByData ? g.FeatureLengths : null))}{(asked.MaxLoopTrips is { } bound ? ", ModelInterface:MaxLoopTrips=" + bound.ToString(CultureInfo.InvariantCulture) : string.Empty)}): samples [{string.Join(", ", g.SampleDims)}] {into} "
                + $"({(g.Varying is { } v ? $"{v.ValuesAt(v.Shortest)} to {v.ValuesAt(v.Longest)} floats per request: {v.Shortest} to {v.Longest} '{v.Name}'{(v.Trailing > 0 ? $", then {v.Trailing} context values" : string.Empty)}" : $"{spec.InputDim} floats per request")}), {spec.Classes} classes as {g.ScoresKind} from '{g.ScoresOutput}'; "
                + (spec.Trainable ? $"devices train {string.Join(", ", g.Trained.Select(t => t.Name))}" : "served only, no rounds") + $"; spec {spec}");
            if (g.Preprocess is not null && g.FeatureLengths is { } made)
                Line(console, string.Create(CultureInfo.InvariantCulture, $"           the front end {g.FeatureLengthsText}: monitoring sketches the mean over '{made.Name}' of the features it makes{(g.ContextLength > 0 ? " and then the context values" : string.Empty)} ({made.SummaryWidth:N0} values at every length), not the values callers send"));
            else if (g.Preprocess is not null)
                Line(console, string.Create(CultureInfo.InvariantCulture, $"           monitoring sketches the {g.FeatureLength - g.ContextLength:N0} features the front end makes (what the model sees{(g.Varying is null ? string.Empty : ", one shape at every length")}){(g.ContextLength > 0 ? " and then the context values" : string.Empty)}, not the {spec.InputDim:N0} values callers send"));
            if (UploadedClassifier.HasBatchOfOne(ClassifierGraphs.Parse(bytes)))
                Line(console, "           its batch is fixed at 1 (exported without dynamic_axes): devices run it a row at a time, and a mini-batch's step is taken on the mean of its rows' gradients");
            return g;
        }
        catch (Exception ex) when (ex is InvalidDataException or NotDifferentiableException)
        {
            Line(console, $"as the fleet's model: no — {ex.Message}");
            return null;
        }
    }

    /// <summary>
    /// The interface and train step it would have as the fleet's multi-task model (<c>ModelInterface:Kind=multitask</c>,
    /// asked with <c>--tasks</c>), or why it cannot be one (exit 1).
    /// </summary>
    private static void TasksInterface(IAnsiConsole console, string name, byte[] bytes, Asked asked, string optimizerText, FileInfo? writeStep)
    {
        var optimizer = TrainingNames.Optimizer(optimizerText) ?? throw new AdminApiException(0, $"--optimizer: '{optimizerText}' is not {TrainingNames.Optimizers}");
        UploadedClassifier model;
        try
        {
            model = UploadedClassifier.Open(bytes, asked.Options with { Output = null, Tasks = asked.Tasks, Optimizer = optimizer });
        }
        catch (Exception ex) when (ex is InvalidDataException or NotDifferentiableException)
        {
            throw new AdminApiException(0, $"{name} as a multi-task model: no — {ex.Message}");
        }

        var (spec, g) = (model.Spec, model.Spec.Graph!);
        Line(console, $"as a multi-task model (ModelInterface:Kind=multitask, ModelInterface:Tasks={string.Join(',', g.Tasks.Select(t => t.Declaration))}): samples [{string.Join(", ", g.SampleDims)}] into '{g.FeaturesInput}'{Context(g)}; {g.ScoresKind}; "
            + (spec.Trainable ? $"devices train {string.Join(", ", g.Trained.Select(t => t.Name))} with the weighted sum of the tasks' losses (POST /v1/feedback {{\"target\": [{string.Join(", ", g.Tasks.Select(t => t.TruthText))}]}})" : "served only, no rounds")
            + $"; scored by the weighted loss and the {spec.AccuracyName}");
        if (model.TrainStep is { } step && writeStep is not null)
        {
            File.WriteAllBytes(writeStep.FullName, step);
            Line(console, $"wrote {writeStep.FullName} ({ClassifierGraphs.Parse(step).Graph.Node.Count} nodes)");
        }
    }

    /// <summary>A graph's context inputs as the sample carries them after the features (ModelInterface:Input names the features input); empty without any.</summary>
    private static string Context(GraphInterface g) => g.ContextInputs.Count == 0 ? string.Empty
        : $" (ModelInterface:Input={g.FeaturesInput}), then context inputs {string.Join(", ", g.ContextInputs.Select(c => c.Description))} in each sample{g.StatesText}";

    /// <summary>
    /// The interface it would have as the fleet's regressor (<c>ModelInterface:Kind=regression</c>) — shown when its one
    /// output per row could be a binary score or a value, or when asked about mean squared error — or as its multi-label
    /// classifier (<c>Kind=multilabel</c>) — shown when its [batch, k] scores are made by a Sigmoid (independent labels,
    /// not one distribution over classes), or when asked about binary cross-entropy.
    /// </summary>
    private static void TargetsInterface(IAnsiConsole console, byte[] bytes, Asked asked, bool multiLabel)
    {
        var (what, kind, loss, target, scores) = multiLabel
            ? ("a multi-label classifier", "multilabel", "binary cross-entropy on their label vectors", "[0 or 1 per label]", "binary cross-entropy and label accuracy")
            : ("a regressor", "regression", "mean squared error on their targets", "[...]", "MSE and R²");
        try
        {
            var spec = UploadedClassifier.Open(bytes, asked.Options with { Regression = !multiLabel, MultiLabel = multiLabel }).Spec;
            var g = spec.Graph!;
            Line(console, $"as {what} (ModelInterface:Kind={kind}): samples [{string.Join(", ", g.SampleDims)}] into '{g.FeaturesInput}'{Context(g)}, {g.ScoresKind} from '{g.ScoresOutput}'; "
                + (spec.Trainable ? $"devices train {string.Join(", ", g.Trained.Select(t => t.Name))} with {loss} (POST /v1/feedback {{\"target\": {target}}})" : "served only, no rounds") + $"; scored by {scores}");
        }
        catch (Exception ex) when (ex is InvalidDataException or NotDifferentiableException)
        {
            Line(console, $"as {what}: no — {ex.Message}");
        }
    }

    /// <summary>
    /// The interface it would have as the fleet's per-position classifier (<c>ModelInterface:Kind=positions</c>) — shown
    /// when it cannot be a classifier and an output is [batch, classes, positions…] —, or null (nothing said).
    /// </summary>
    private static GraphInterface? PositionsInterface(IAnsiConsole console, byte[] bytes, Asked asked)
    {
        try
        {
            var spec = UploadedClassifier.Open(bytes, asked.Options with { PerPosition = true, ClassAxisLast = asked.ClassAxisLast }).Spec;
            var g = spec.Graph!;
            Line(console, $"as a per-position classifier (ModelInterface:Kind=positions{(g.ClassAxisLast ? ", ModelInterface:ClassAxis=last" : string.Empty)}): samples [{string.Join(", ", g.SampleDims)}] into '{g.FeaturesInput}'{Context(g)}, {g.ScoresKind} from '{g.ScoresOutput}'; "
                + (spec.Trainable ? $"devices train {string.Join(", ", g.Trained.Select(t => t.Name))} with softmax cross-entropy per position (POST /v1/feedback {{\"target\": [a class id per position]}})" : "served only, no rounds") + "; scored by cross-entropy and position accuracy");
            return g;
        }
        catch (Exception ex) when (ex is InvalidDataException or NotDifferentiableException)
        {
            return null; // not one either: the other kinds above and below say what it can be
        }
    }

    /// <summary>
    /// The interface it would be served through as a model that is not a classifier (<c>ModelInterface:Kind=tensors</c>),
    /// with the state pairs the shapes allow, and behind <paramref name="preprocess"/> when given.
    /// </summary>
    private static void TensorsInterface(IAnsiConsole console, Shared.Onnx.Proto.ModelProto model, byte[] bytes, byte[]? preprocess)
    {
        try
        {
            var states = TensorInterfaceReader.StateCandidates(model, bytes);
            var tensors = UploadedClassifier.OpenTensors(bytes, states, preprocess: preprocess).Spec;
            var t = tensors.Graph!.Tensors!;
            var stateKey = states.Count > 0 ? $", ModelInterface:State={string.Join(',', states.Select(s => $"{s.Input}>{s.Output}"))}" : string.Empty;
            stateKey += t.Preprocess is { } p ? $", ModelInterface:Preprocess=FILE {p.Sha256[..12]}…, which feeds {string.Join(", ", p.Outputs)}" : string.Empty;
            Line(console, $"as a model served by tensor names (ModelInterface:Kind=tensors{stateKey}): callers feed {string.Join(", ", t.CallerInputs.Select(i => i.CanonicalText))} "
                + $"to POST /v1/infer and read {string.Join(", ", t.Outputs.Select(o => o.CanonicalText))}; served only, no rounds; spec {tensors}");
            if (states.Count > 0) Line(console, $"           state pairs are read from equal types and shapes: confirm {string.Join(", ", states.Select(s => $"{s.Output} → {s.Input}"))} is what the model carries");
            Line(console, $"           monitoring sketches {(t.MonitoredWidth > 0 ? string.Join(", ", t.Monitored.Select(m => $"{m.Output} ({(m.Taken == 1 ? "1 value" : $"the first {m.Taken} values")} per row)")) : "no output (none is a float row)")}"
                + (EmbeddingExposure.Candidates(model) is { Count: > 0 } late ? $"; to watch the inputs' drift, declare an embedding (ModelInterface:Embedding=VALUE), e.g. one of {string.Join(", ", late)}" : string.Empty));
        }
        catch (InvalidDataException ex)
        {
            Line(console, $"as a model served by tensor names: no — {ex.Message}");
        }
    }

    private static void Line(IAnsiConsole console, string text) => console.WriteLine(text);
}
