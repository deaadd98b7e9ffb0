using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;

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
        var own = new[] { options.Made, options.Varying }.FirstOrDefault(r => r is { } range && pins.Any(p => p.Name == range.Name)); // the model alone takes what the front end makes
        return options with { Preprocess = null, AxisLengths = pins, Varying = own, Made = null };
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

    /// <summary>
    /// The model's own free axis (pinned for reading) along which the front end makes as many features as the samples'
    /// length decides — more of them for the longest samples than for the shortest, as the front end's shapes read at
    /// both ends say, or where they do not tell, a run of it at both ends (<paramref name="run"/>, when given) — with the
    /// range it makes; null when none (one shape). The model's pin must be the longest's count.
    /// </summary>
    private static SampleLengths? FramedLengths(ModelProto front, ModelProto model, string input, long[] featureDims, SampleLengths varying, IReadOnlyList<(string Name, long Length)> frontPins, Func<byte[], long[]>? run)
    {
        var made = front.Graph.Output.Single();
        var outputDims = Dims(made).Skip(1).ToList();
        long? Count(long length, int axis)
        {
            var pinned = Onnx.AxisLengths.Pin(front, [.. frontPins.Where(p => p.Name != varying.Name), (varying.Name, length)]);
            if (new Training.GraphFacts(pinned.Graph).InferredDims(made.Name) is { } dims && axis + 1 < dims.Length && dims[axis + 1] is { } told && told > 0) return told; // a symbol is no count
            try
            {
                return run?.Invoke(pinned.ToByteArray()) is { } ran && axis + 1 < ran.Length ? ran[axis + 1] : null; // the shapes do not tell: how many a run makes
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                throw new InvalidDataException($"the preprocessing graph does not run on a sample of {length} '{varying.Name}': {ex.Message}", ex);
            }
        }

        foreach (var (dim, axis) in Dims(model.Graph.Input.Single(i => i.Name == input)).Skip(1).Select((d, i) => (d, i)))
        {
            if (!dim.HasDimParam || axis >= outputDims.Count || outputDims[axis].HasDimValue) continue; // fixed on either side: not made per length
            if (Count(varying.Shortest, axis) is not { } shortest || Count(varying.Longest, axis) is not { } longest || shortest == longest) continue;
            if (shortest > longest || shortest < 1)
                throw new InvalidDataException($"the preprocessing graph makes {shortest} '{dim.DimParam}' of the shortest samples ({varying.Shortest} '{varying.Name}') and {longest} of the longest: fewer samples must make fewer");
            if (featureDims[axis] != longest)
                throw new InvalidDataException($"the preprocessing graph makes {shortest} to {longest} '{dim.DimParam}' of {varying.Shortest} to {varying.Longest} '{varying.Name}': pin the model's '{dim.DimParam}' at the longest's, ModelInterface:AxisLengths={varying.Name}={varying.Shortest}..{varying.Longest},{dim.DimParam}={longest}");
            return new SampleLengths(dim.DimParam, axis, shortest, featureDims, varying.Trailing);
        }

        return null;
    }

    /// <summary>
    /// The range the samples callers send vary over, and the one behind a front end along which it makes as many values
    /// as each sample's data decides: <see cref="UploadedClassifierOptions.Made"/> when declared after the samples' — or,
    /// behind a front end whose samples have one length, the one range when the model's features input declares its axis
    /// and the front end's input does not (<c>readings=8,frames=1..8</c>: a fixed window whose frames the data decides).
    /// </summary>
    private static ((string Name, long Shortest)? Callers, (string Name, long Shortest)? Made) RangesOf(ModelProto? front, ModelProto model, UploadedClassifierOptions options) =>
        front is not null && options.Made is null && options.Varying is { } only && !Declares(front, only.Name) && Declares(model, only.Name)
            ? (null, only) : (options.Varying, options.Made);

    /// <summary>
    /// Features along the model's own free axis <paramref name="decided"/> names, as many as each sample's data decides
    /// (from its fewest to the model's pin): the front end must take one sample at a time (its batch fixed at 1 — a count
    /// for a whole batch would let one sample's values decide another's features) and leave that axis free in its
    /// output, where the model's features input takes it. Each device checks every count it makes against the range.
    /// </summary>
    private static SampleLengths DecidedLengths(ModelProto front, ModelProto model, string input, long[] featureDims, int trailing, (string Name, long Shortest) decided)
    {
        var made = front.Graph.Output.Single();
        var axes = Dims(model.Graph.Input.Single(i => i.Name == input)).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == decided.Name).Select(p => p.i).ToList();
        if (axes.Count != 1)
            throw new InvalidDataException($"'{decided.Name}={decided.Shortest}..', what the front end makes as each sample's data decides, names no free axis of the model's features input '{input}' (or more than one): name the model's axis the front end's frames go along");
        if (Dims(front.Graph.Input[0]).FirstOrDefault() is not { HasDimValue: true, DimValue: 1 })
        {
            var own = Dims(front.Graph.Input[0]).Skip(1).Where(d => d.HasDimParam).Select(d => $"'{d.DimParam}'").ToList();
            throw new InvalidDataException($"a front end whose '{decided.Name}' each sample's data decides takes one sample at a time: export it with its batch fixed at 1 (its input '{front.Graph.Input[0].Name}' is {OnnxModelCheck.Describe(front.Graph.Input[0])})"
                + (own.Count > 0 ? $"; if it is the samples callers send that vary, range the front end's own axis ({string.Join(", ", own)}) first, as ModelInterface:AxisLengths={own[0].Trim('\'')}=SHORTEST..LONGEST,…" : string.Empty));
        }
        var outputDims = Dims(made).Skip(1).ToList();
        if (axes[0] >= outputDims.Count || outputDims[axes[0]].HasDimValue)
            throw new InvalidDataException($"the preprocessing graph makes '{made.Name}' {OnnxModelCheck.Describe(made)}: its axis {axes[0] + 1} must be free for the data to decide how many '{decided.Name}' it makes");
        try
        {
            return new SampleLengths(decided.Name, axes[0], decided.Shortest, featureDims, trailing);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
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
    /// output must declare it too, at the same position); when one of its own free axes (pinned by
    /// <c>ModelInterface:AxisLengths</c>) is one the front end makes as many of as the samples' length decides — frames
    /// of a signal, found by reading the front end's shapes at the shortest and the longest samples — features that vary
    /// along it; else features of the model's one shape at every length (null: samples of any length resampled to one —
    /// the aggregator's probe runs both ends to see it). Throws <see cref="InvalidDataException"/> when the two graphs disagree.
    /// </summary>
    private static SampleLengths? FeatureLengthsOf(ModelProto front, ModelProto model, string input, long[] featureDims, SampleLengths varying, IReadOnlyList<(string Name, long Length)> frontPins, UploadedClassifierOptions options)
    {
        var run = options.FrontDims;
        var made = front.Graph.Output.Single();
        var kept = Dims(made).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == varying.Name).Select(p => p.i).ToList();
        var modelAxes = Dims(model.Graph.Input.Single(i => i.Name == input)).Skip(1).Select((d, i) => (d, i)).Where(p => p.d.DimParam == varying.Name).Select(p => p.i).ToList();
        if (modelAxes.Count == 0)
        {
            if (kept.Count > 0) throw new InvalidDataException($"the preprocessing graph keeps the samples' '{varying.Name}' in '{made.Name}' {OnnxModelCheck.Describe(made)}, but the model's features input '{input}' takes one shape [{string.Join(", ", featureDims)}]: declare '{varying.Name}' free on the model too, or make the front end resample to one shape");
            return FramedLengths(front, model, input, featureDims, varying, frontPins, run);
        }

        if (modelAxes.Count != 1 || !kept.SequenceEqual(modelAxes))
            throw new InvalidDataException($"the model's features input '{input}' takes '{varying.Name}' free at axis {string.Join(", ", modelAxes.Select(a => a + 1))}, but the preprocessing graph makes '{made.Name}' {OnnxModelCheck.Describe(made)}: a front end in front of it must keep that axis where the model takes it");
        try
        {
            return new SampleLengths(varying.Name, modelAxes[0], varying.Shortest, featureDims, varying.Trailing);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException(ex.Message, ex);
        }
    }
}
