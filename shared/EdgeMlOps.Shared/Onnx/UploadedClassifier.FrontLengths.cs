using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>Samples of several lengths behind a preprocessing graph: where the fleet's pins go, and what lengths the front end makes.</summary>
public sealed partial class UploadedClassifier
{
    private static IEnumerable<TensorShapeProto.Types.Dimension> Dims(ValueInfoProto value) => value.Type?.TensorType?.Shape?.Dim ?? [];

    /// <summary>
    /// <paramref name="options"/> for reading the model file <paramref name="bytes"/> without its front end (to tell a
    /// fault of the model from one of the pair): the pins its own inputs declare, and the range only when it is one of
    /// them (else the model takes one shape, whatever length the front end's samples have). Throws
    /// <see cref="InvalidDataException"/> for a file that is no well-formed model.
    /// </summary>
    public static UploadedClassifierOptions WithoutFront(byte[] bytes, UploadedClassifierOptions options)
    {
        var model = ParseWellFormed(bytes);
        List<(string Name, long Length)> pins = [.. options.AxisLengths.Where(p => Declares(model, p.Name))]; // the front end's own are checked with it
        return options with { Preprocess = null, AxisLengths = pins, Varying = pins.Any(p => p.Name == options.Varying?.Name) ? options.Varying : null };
    }

    /// <summary>
    /// The pins (<c>ModelInterface:AxisLengths</c>) each graph's inputs declare: a free axis of the samples callers send
    /// is the front end's; the model's own may share its name. Without a front end every pin is the model's (and one no
    /// input declares is refused there, saying which axes are free).
    /// </summary>
    private static (IReadOnlyList<(string Name, long Length)> Model, IReadOnlyList<(string Name, long Length)> Front) PinsOf(ModelProto model, ModelProto? front, IReadOnlyList<(string Name, long Length)> pins)
    {
        if (front is null) return (pins, []);
        var neither = pins.Where(p => !Declares(model, p.Name) && !Declares(front, p.Name)).ToList();
        return ([.. pins.Where(p => Declares(model, p.Name)), .. neither], [.. pins.Where(p => Declares(front, p.Name))]);
    }

    /// <summary>Whether an input of <paramref name="graph"/> (not an initializer) declares a free axis named <paramref name="name"/> behind its batch.</summary>
    private static bool Declares(ModelProto graph, string name)
    {
        var initializers = graph.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return graph.Graph.Input.Where(i => !initializers.Contains(i.Name)).Any(i => Dims(i).Skip(1).Any(d => d.DimParam == name));
    }

    /// <summary>
    /// What a front end makes of samples that vary along <paramref name="varying"/>'s axis, as the model's features input
    /// <paramref name="input"/> says: when it declares that axis free, features that keep the length (the front end's
    /// output must declare it too, at the same position); when it does not, features of the model's one shape at every
    /// length (null: samples of any length resampled to one — the aggregator's probe runs both ends to see it).
    /// Throws <see cref="InvalidDataException"/> when the two graphs disagree.
    /// </summary>
    private static SampleLengths? FeatureLengthsOf(ModelProto front, ModelProto model, string input, long[] featureDims, SampleLengths varying)
    {
        var made = front.Graph.Output.Single();
        var kept = Dims(made).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == varying.Name).Select(p => p.i).ToList();
        var modelAxes = Dims(model.Graph.Input.Single(i => i.Name == input)).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == varying.Name).Select(p => p.i).ToList();
        if (modelAxes.Count == 0)
        {
            if (kept.Count > 0) throw new InvalidDataException($"the preprocessing graph keeps the samples' '{varying.Name}' in '{made.Name}' {OnnxModelCheck.Describe(made)}, but the model's features input '{input}' takes one shape [{string.Join(", ", featureDims)}]: declare '{varying.Name}' free on the model too, or make the front end resample to one shape");
            return null;
        }

        if (modelAxes.Count != 1 || !kept.SequenceEqual(modelAxes))
            throw new InvalidDataException($"the model's features input '{input}' takes '{varying.Name}' free at axis {string.Join(", ", modelAxes.Select(a => a + 1))}, but the preprocessing graph makes '{made.Name}' {OnnxModelCheck.Describe(made)}: a front end in front of it must keep that axis where the model takes it");
        try
        {
            return new SampleLengths(varying.Name, modelAxes[0], varying.Shortest, featureDims);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
    }
}
