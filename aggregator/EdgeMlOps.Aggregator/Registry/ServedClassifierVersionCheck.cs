using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// A new version of a classifier — or regressor, or multi-label classifier — the fleet serves without training
/// (<c>ModelInterface:Trainable=none</c>, a tree ensemble, say): a new file — the model retrained elsewhere — with the
/// fleet's interface (the same features input, sample shape and type, context inputs, scores output and number of
/// classes or values), read as the kind of model the fleet serves and run by ONNX Runtime on probe rows as the fleet
/// reads it. It is stored and served byte for byte, and evaluated and governed like any version.
/// </summary>
public static class ServedClassifierVersionCheck
{
    /// <summary>The (empty) weights to register with the file, or <see cref="UploadRefusedException"/> saying what differs or fails.</summary>
    public static ModelWeights Admit(UploadedClassifier source, byte[] uploaded)
    {
        var fleet = source.Spec.Graph!;
        ModelSpec offered;
        try
        {
            offered = UploadedClassifier.Open(uploaded, new UploadedClassifierOptions(UploadedClassifier.ServeOnly)
            {
                Input = fleet.FeaturesInput, Output = fleet.Tasks.Count > 0 ? null : fleet.ScoresOutput, ScoresAreLogits = fleet.RegressionTargets > 0 || fleet.Tasks.Count > 0 ? null : fleet.ScoresAreLogits,
                Tasks = [.. fleet.Tasks.Select(t => (t.Output, t.Kind, t.Weight))], // a multi-task model's outputs, each read as the fleet reads it
                AxisLengths = fleet.AxisLengths, // its free axes pinned as the fleet's
                Varying = fleet.Varying is { } v ? (v.Name, v.Shortest) : null, // and samples of the fleet's lengths
                Made = fleet.FeatureCountsByData && fleet.FeatureLengths is { } made ? (made.Name, made.Shortest) : null, // behind a front end whose counts the data decides
                Regression = fleet.RegressionTargets > 0, MultiLabel = fleet.MultiLabels > 0, PerPosition = fleet.PositionClasses > 0, ClassAxisLast = fleet.ClassAxisLast, // read as the kind the fleet serves
                Preprocess = source.Preprocess, // behind the fleet's front end, if it has one: callers keep sending the same samples
                FrontDims = Runtime.FrontEndRun.OutputDims, // its counts found as the fleet's were
            }).Spec;
        }
        catch (Exception ex) when (ex is InvalidDataException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new UploadRefusedException($"the file cannot be a version of this fleet's model (a classifier served without training): {ex.Message}");
        }

        var differences = Differences(source.Spec, offered).ToList();
        if (differences.Count > 0)
            throw new UploadRefusedException($"the file's interface is not the fleet's: {string.Join("; ", differences)}. Requests on every device send these samples and read these classes, so a version keeps them; a different interface is a new model (see docs/MODELS.md).");
        try
        {
            UploadedModelProbe.RunServed(uploaded, source.Spec, source.Preprocess);
        }
        catch (InvalidDataException ex)
        {
            throw new UploadRefusedException($"the file does not run as the fleet's model: {ex.Message}");
        }

        return new ModelWeights(source.Spec, []);
    }

    private static IEnumerable<string> Differences(ModelSpec fleet, ModelSpec offered)
    {
        var (f, o) = (fleet.Graph!, offered.Graph!);
        if (!f.SampleDims.SequenceEqual(o.SampleDims)) yield return $"samples [{string.Join(", ", o.SampleDims)}] into '{o.FeaturesInput}', the fleet's are [{string.Join(", ", f.SampleDims)}]";
        if (f.IntegerFeatures != o.IntegerFeatures) yield return $"'{o.FeaturesInput}' is {(o.IntegerFeatures ? "int64" : "float")}, the fleet's is {(f.IntegerFeatures ? "int64" : "float")}";
        if (!f.ContextInputs.SequenceEqual(o.ContextInputs))
            yield return $"context inputs {Listed(o.ContextInputs)}, the fleet's are {Listed(f.ContextInputs)}";
        if (f.TargetWidth > 0 || o.TargetWidth > 0)
        {
            if (f.RegressionTargets != o.RegressionTargets || f.MultiLabels != o.MultiLabels || f.PositionClasses != o.PositionClasses || !f.ValuesDims.SequenceEqual(o.ValuesDims)
                || !f.Tasks.Select(t => t.CanonicalText).SequenceEqual(o.Tasks.Select(t => t.CanonicalText))) yield return $"'{o.ScoresOutput}' gives {o.ScoresKind}, the fleet's {f.ScoresKind}";
        }
        else if (fleet.Classes != offered.Classes || f.SingleScore != o.SingleScore) yield return $"'{o.ScoresOutput}' scores {offered.Classes} classes as {o.ScoresKind}, the fleet's {fleet.Classes} as {f.ScoresKind}";
    }

    private static string Listed(IReadOnlyList<TensorSignature> inputs) => inputs.Count == 0 ? "none" : string.Join(", ", inputs.Select(i => i.CanonicalText));
}
