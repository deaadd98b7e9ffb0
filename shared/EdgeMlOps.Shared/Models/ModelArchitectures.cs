using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Models;

/// <summary>A <see cref="ModelSpec"/> as the signed manifest carries it (<see cref="ModelArchitecture"/>), and back.</summary>
public static class ModelArchitectures
{
    /// <summary>Most trained tensors a manifest may declare (a ResNet-50 has ~320).</summary>
    public const int MaxTrainedTensors = 4096;

    public static ModelArchitecture From(ModelSpec spec, IEnumerable<int> categoricalFeatures)
    {
        var architecture = new ModelArchitecture
        {
            InputDim = (uint)spec.InputDim,
            Classes = (uint)spec.Classes,
            Hidden = { spec.Hidden.Select(h => (uint)h) },
            CategoricalFeatures = { categoricalFeatures.Select(f => (uint)f) },
        };
        if (spec.Graph is { Tensors: { } tensors })
        {
            architecture.Graph = new GraphInterfaceSpec { SourceSha256 = tensors.SourceSha256, Tensors = TensorSpec(tensors) };
        }
        else if (spec.Graph is { } g)
        {
            architecture.Graph = new GraphInterfaceSpec
            {
                FeaturesInput = g.FeaturesInput, SampleDims = { g.SampleDims }, ScoresOutput = g.ScoresOutput, ScoresAreLogits = g.ScoresAreLogits,
                Trained = { g.Trained.Select(t => new TrainedTensor { Name = t.Name, Dims = { t.Dims } }) }, SourceSha256 = g.SourceSha256, IntegerFeatures = g.IntegerFeatures,
                SingleScore = g.SingleScore, Preprocess = g.Preprocess is { } p ? PreprocessSpec(p) : null, FeatureDims = { g.FeatureDims }, RegressionTargets = (uint)g.RegressionTargets, MultiLabels = (uint)g.MultiLabels,
                ValuesDims = { g.ValuesDims }, PositionClasses = (uint)g.PositionClasses, ClassAxisLast = g.ClassAxisLast, ContextInputs = { g.ContextInputs.Select(SignatureSpec) },
                States = { g.States.Select(s => new TensorStatePair { Input = s.Input, Output = s.Output }) },
                Tasks = { g.Tasks.Select(t => new ModelTaskSpec { Output = t.Output, Classes = (uint)t.Classes, Dims = { t.Dims }, Weight = t.Weight, Logits = t.Logits, Labels = (uint)t.Labels, ClassAxisLast = t.ClassAxisLast }) },
                AxisLengths = { g.AxisLengths.Select(a => new AxisLength { Name = a.Name, Length = a.Length }) },
                SampleLengths = g.Varying is { } v ? RangeSpec(v, g.FeatureLengths, g.FeatureCountsByData) : null,
                MadeLengths = g.Varying is null && g.FeatureLengths is { } made ? new SampleLengthRange { Name = made.Name, Axis = (uint)made.Axis, Shortest = made.Shortest } : null, // samples of one length, frames the data decides
                MaxLoopTrips = (uint)g.MaxLoopTrips,
            };
        }

        return architecture;
    }

    /// <summary>A range as signed: the samples' axis, and behind a front end whose features vary with them the features' axis (and, when it frames them, their own name and shortest).</summary>
    private static SampleLengthRange RangeSpec(SampleLengths varying, SampleLengths? features, bool byData)
    {
        var range = new SampleLengthRange { Name = varying.Name, Axis = (uint)varying.Axis, Shortest = varying.Shortest, FeatureCountsByData = byData };
        if (features is null) return range;
        range.FeatureAxis = (uint)features.Axis;
        if (features.Name != varying.Name || features.Shortest != varying.Shortest) (range.FeatureName, range.FeatureShortest) = (features.Name, features.Shortest); // a front end that frames the samples
        return range;
    }

    /// <summary>The spec a manifest declares. Throws <see cref="InvalidDataException"/> for one no device could run.</summary>
    public static ModelSpec ToSpec(ModelArchitecture architecture)
    {
        try
        {
            if (architecture.Graph is { Tensors: { } tensors } served) return TensorsSpec(architecture, served, tensors);
            if (architecture.Graph is not { } g) return new ModelSpec(checked((int)architecture.InputDim), architecture.Hidden.Select(h => checked((int)h)).ToArray(), checked((int)architecture.Classes));
            if (g.Trained.Count > MaxTrainedTensors) throw new ArgumentException($"{g.Trained.Count} trained tensors (at most {MaxTrainedTensors})");
            if (TakesTargets(g) && architecture.Classes != 0) throw new ArgumentException($"a regressor, multi-label, per-position classifier or multi-task model declares no classes, not {architecture.Classes}");
            if (g.Tasks.Count > GraphInterface.MaxTasks) throw new ArgumentException($"{g.Tasks.Count} tasks (at most {GraphInterface.MaxTasks})");
            var graph = new GraphInterface(g.FeaturesInput, g.SampleDims, g.ScoresOutput, g.ScoresAreLogits,
                [.. g.Trained.Select(t => (t.Name, t.Dims.ToArray()))], g.SourceSha256) { IntegerFeatures = g.IntegerFeatures, SingleScore = g.SingleScore, Preprocess = PreprocessOf(g.Preprocess), FeatureDims = g.FeatureDims, RegressionTargets = checked((int)Math.Min(g.RegressionTargets, int.MaxValue)), MultiLabels = checked((int)Math.Min(g.MultiLabels, int.MaxValue)),
                ValuesDims = g.ValuesDims, PositionClasses = checked((int)Math.Min(g.PositionClasses, int.MaxValue)), ClassAxisLast = g.ClassAxisLast,
                ContextInputs = g.ContextInputs.Count <= GraphInterface.MaxContextInputs ? [.. g.ContextInputs.Select(Signature)] : throw new ArgumentException($"more than {GraphInterface.MaxContextInputs} context inputs"),
                States = g.States.Count <= GraphInterface.MaxStates ? [.. g.States.Select(s => (s.Input, s.Output))] : throw new ArgumentException($"more than {GraphInterface.MaxStates} state pairs"),
                Tasks = [.. g.Tasks.Select(t => new ModelTask(t.Output, checked((int)Math.Min(t.Classes, int.MaxValue)), t.Dims.Count <= GraphInterface.MaxValuesRank ? t.Dims : throw new ArgumentException($"task '{t.Output}' has more than {GraphInterface.MaxValuesRank} axes"), t.Weight, t.Logits, checked((int)Math.Min(t.Labels, int.MaxValue)), t.ClassAxisLast))],
                AxisLengths = g.AxisLengths.Count <= GraphInterface.MaxAxisLengths ? [.. g.AxisLengths.Select(a => (a.Name, a.Length))] : throw new ArgumentException($"more than {GraphInterface.MaxAxisLengths} pinned axes"),
                Varying = g.SampleLengths is { } v ? ArchitectureSampleSizes.Lengths(v, g) : null,
                FeatureCountsByData = g.SampleLengths?.FeatureCountsByData == true || g.MadeLengths is not null, // declared before the range it qualifies
                FeatureLengths = g.SampleLengths is { HasFeatureAxis: true } made
                    ? new SampleLengths(made.FeatureName.Length > 0 ? made.FeatureName : made.Name, checked((int)Math.Min(made.FeatureAxis, int.MaxValue)), made.FeatureShortest > 0 ? made.FeatureShortest : made.Shortest, g.FeatureDims,
                        checked(g.ContextInputs.Select(Signature).Sum(c => c.ValueCount))) // the context inputs' values trail what the front end made
                    : g.MadeLengths is { } decided ? new SampleLengths(decided.Name, checked((int)Math.Min(decided.Axis, int.MaxValue)), decided.Shortest, g.FeatureDims, checked(g.ContextInputs.Select(Signature).Sum(c => c.ValueCount))) : null,
                MaxLoopTrips = (int)Math.Min(g.MaxLoopTrips, int.MaxValue) };
            var spec = graph.TargetWidth > 0 || graph.PositionClasses > 0 ? ModelSpec.ForTargets(graph) : ModelSpec.ForGraph(graph, checked((int)architecture.Classes));
            if ((g.Preprocess is null) != (g.FeatureDims.Count == 0)) throw new ArgumentException("feature_dims are declared with a preprocessing graph, and only then");
            if (g.MadeLengths is not null && g.SampleLengths is not null) throw new ArgumentException("made_lengths are declared for samples of one length, and only then (a range of samples carries its features' range)");
            if (graph.FeatureCountsByData && graph.FeatureLengths is null) throw new ArgumentException("features whose count the data decides declare their range");
            if (g.SingleScore && spec.Classes != 2) throw new ArgumentException($"a single score classifies two classes, not {spec.Classes}");
            _ = ParameterLayout.For(spec).TotalLength; // checked: the trained tensors fit one float vector
            if (spec.InputDim != architecture.InputDim) throw new ArgumentException($"input_dim {architecture.InputDim} is not the sample's {spec.InputDim} floats");
            return spec;
        }
        catch (Exception ex) when (ex is ArgumentException or OverflowException)
        {
            throw new InvalidDataException("the manifest's architecture is invalid: " + ex.Message, ex);
        }
    }

    /// <summary>Whether a manifest's model keeps a float vector of ground truth per row (a regressor, a multi-label or per-position classifier, a multi-task model) rather than a class label.</summary>
    public static bool TakesTargets(GraphInterfaceSpec? g) => g is not null && (g.RegressionTargets > 0 || g.MultiLabels > 0 || g.PositionClasses > 0 || g.Tasks.Count > 0);

    private static TensorInterfaceSpec TensorSpec(TensorInterface tensors)
    {
        return new TensorInterfaceSpec
        {
            Inputs = { tensors.Inputs.Select(SignatureSpec) },
            Outputs = { tensors.Outputs.Select(SignatureSpec) },
            States = { tensors.States.Select(s => new TensorStatePair { Input = s.Input, Output = s.Output }) },
            Embedding = tensors.Embedding?.Name ?? string.Empty,
            EmbeddingWidth = tensors.Embedding?.Width ?? 0,
            Scalings = { tensors.Scalings.Select(x => new InputScalingSpec { Input = x.Input, Axis = x.Axis, Mean = { x.Mean }, Std = { x.Std } }) },
            Windows = { tensors.Windows.Select(x => new InputWindowSpec { Input = x.Input, Axis = x.Axis }) },
            Preprocess = tensors.Preprocess is { } p ? PreprocessSpec(p) : null,
        };
    }

    private static TensorSignatureSpec SignatureSpec(TensorSignature t) => new() { Name = t.Name, Type = t.Type.ToString().ToLowerInvariant(), Dims = { t.Dims }, Categories = { t.Categories } };

    /// <summary>A signature as a manifest carries it (categories bounded before they are copied; checked where the signature is declared).</summary>
    public static TensorSignature Signature(TensorSignatureSpec t) =>
        new(t.Name, Enum.TryParse<TensorElement>(t.Type, ignoreCase: true, out var type) && !int.TryParse(t.Type, out _) ? type : throw new ArgumentException($"tensor '{t.Name}' has the unknown element type '{t.Type}'"), t.Dims)
        {
            Categories = t.Categories.Count <= StringCategories.MaxCount ? [.. t.Categories] : throw new ArgumentException($"tensor '{t.Name}' declares {t.Categories.Count} categories (at most {StringCategories.MaxCount})"),
        };

    private static TensorPreprocessSpec PreprocessSpec(TensorPreprocess p) =>
        new() { Sha256 = p.Sha256, Size = (ulong)p.Size, Inputs = { p.Inputs.Select(SignatureSpec) }, Outputs = { p.Outputs } };

    /// <summary>The declared preprocessing graph, bounded before anything is built from it; null when unset.</summary>
    private static TensorPreprocess? PreprocessOf(TensorPreprocessSpec? p) =>
        p is null ? null
        : p.Inputs.Count <= TensorInterface.MaxTensors && p.Outputs.Count <= TensorInterface.MaxTensors && p.Size <= TensorPreprocess.MaxBytes
            ? new TensorPreprocess(p.Sha256, (long)p.Size, [.. p.Inputs.Select(Signature)], [.. p.Outputs])
            : throw new ArgumentException($"a preprocessing graph with more than {TensorInterface.MaxTensors} inputs or outputs, or over {TensorPreprocess.MaxBytes} bytes");

    /// <summary>A served-by-tensors spec; everything a classifier would declare must be empty (a manifest mixing both is refused).</summary>
    private static ModelSpec TensorsSpec(ModelArchitecture architecture, GraphInterfaceSpec graph, TensorInterfaceSpec tensors)
    {
        if (architecture.InputDim != 0 || architecture.Classes != 0 || architecture.Hidden.Count > 0 || architecture.CategoricalFeatures.Count > 0
            || graph.FeaturesInput.Length > 0 || graph.ScoresOutput.Length > 0 || graph.SampleDims.Count > 0 || graph.Trained.Count > 0 || graph.IntegerFeatures || graph.ScoresAreLogits || graph.SingleScore || graph.Preprocess is not null || graph.FeatureDims.Count > 0 || graph.RegressionTargets > 0 || graph.MultiLabels > 0 || graph.ValuesDims.Count > 0 || graph.PositionClasses > 0 || graph.ClassAxisLast || graph.ContextInputs.Count > 0 || graph.Tasks.Count > 0 || graph.AxisLengths.Count > 0 || graph.SampleLengths is not null || graph.MadeLengths is not null || graph.MaxLoopTrips > 0)
            throw new ArgumentException("a model served by tensors declares no features, classes, scores or trained tensors");
        if (tensors.Inputs.Count > TensorInterface.MaxTensors || tensors.Outputs.Count > TensorInterface.MaxTensors || tensors.States.Count > TensorInterface.MaxTensors)
            throw new ArgumentException($"more than {TensorInterface.MaxTensors} inputs, outputs or states");
        return ModelSpec.ForTensors(new TensorInterface([.. tensors.Inputs.Select(Signature)], [.. tensors.Outputs.Select(Signature)],
            [.. tensors.States.Select(s => (s.Input, s.Output))], graph.SourceSha256, PreprocessOf(tensors.Preprocess))
        {
            Embedding = tensors.Embedding.Length > 0 || tensors.EmbeddingWidth != 0 ? new TensorEmbedding(tensors.Embedding, tensors.EmbeddingWidth) : null,
            Scalings = tensors.Scalings.Count <= TensorInterface.MaxTensors
                ? [.. tensors.Scalings.Select(x => new InputScaling(x.Input, x.Axis, x.Mean, x.Std))]
                : throw new ArgumentException($"more than {TensorInterface.MaxTensors} scalings"),
            Windows = tensors.Windows.Count <= TensorInterface.MaxTensors
                ? [.. tensors.Windows.Select(x => new InputWindow(x.Input, x.Axis))]
                : throw new ArgumentException($"more than {TensorInterface.MaxTensors} windows"),
        });
    }
}
