using System.Globalization;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Free axes an exporter left symbolic besides the batch (<c>dynamic_axes={"rows": {1: "frames"}}</c>: frames of any
/// length, tokens of any count), pinned by the operator at the one length the fleet serves and trains
/// (<c>ModelInterface:AxisLengths=frames=8</c>), or let vary over a range on one axis (<c>frames=6..8</c>: pinned at
/// the longest, <see cref="Models.SampleLengths"/>). The pins are applied to a copy of the graph that the interface is read
/// from and the train step is generated from; the uploaded file is served byte for byte, its axis still free.
/// </summary>
public static class AxisLengths
{
    /// <summary>Longest a pinned axis may be.</summary>
    public const long MaxLength = 1 << 16;

    /// <summary>
    /// <c>NAME=LENGTH,…</c> (the axes' names as the graph declares them), one of them perhaps <c>NAME=SHORTEST..LONGEST</c>
    /// (samples of any length in that range, pinned at the longest here; <see cref="Range"/> reads the shortest). Throws
    /// <see cref="ArgumentException"/> saying what is wrong.
    /// </summary>
    public static IReadOnlyList<(string Name, long Length)> Parse(string text) => [.. Items(text).Select(i => (i.Name, i.Longest))];

    /// <summary>The axis <see cref="Parse"/>'s text lets vary (<c>frames=6..8</c>) and its shortest length, or null when every axis is pinned at one.</summary>
    public static (string Name, long Shortest)? Range(string text) =>
        Items(text).Where(i => i.Shortest < i.Longest).Select(i => ((string, long)?)(i.Name, i.Shortest)).FirstOrDefault();

    /// <summary>
    /// A second range after the samples' (<c>readings=6..8,frames=1..8</c>): the model's own axis along which a front end
    /// makes as many values as each sample's data decides — a voice-activity front end that drops silent frames — and
    /// the fewest it may make; null without one.
    /// </summary>
    public static (string Name, long Shortest)? MadeRange(string text) =>
        Items(text).Where(i => i.Shortest < i.Longest).Skip(1).Select(i => ((string, long)?)(i.Name, i.Shortest)).FirstOrDefault();

    private static List<(string Name, long Shortest, long Longest)> Items(string text)
    {
        var pins = new List<(string, long, long)>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('=', StringSplitOptions.TrimEntries);
            var range = parts.Length == 2 ? parts[1].Split("..", StringSplitOptions.TrimEntries) : [];
            if (parts.Length != 2 || parts[0].Length == 0 || range.Length is not (1 or 2) || !range.All(r => long.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxLength))
                throw new ArgumentException($"'{item}' is not AXIS=LENGTH or AXIS=SHORTEST..LONGEST with lengths from 1 to {MaxLength}");
            var (shortest, longest) = (long.Parse(range[0], CultureInfo.InvariantCulture), long.Parse(range[^1], CultureInfo.InvariantCulture));
            if (range.Length == 2 && shortest >= longest) throw new ArgumentException($"'{item}': the shortest length must be below the longest");
            pins.Add((parts[0], shortest, longest));
        }

        if (pins.Select(p => p.Item1).Distinct(StringComparer.Ordinal).Count() != pins.Count) throw new ArgumentException("an axis is pinned twice");
        if (pins.Count(p => p.Item2 < p.Item3) > 2) throw new ArgumentException("samples may vary in length along one axis only, and what a front end makes of them along one more");
        return pins;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> whose inputs, outputs and value infos have each pinned axis at its length
    /// (<paramref name="model"/> itself when nothing is pinned). Throws <see cref="InvalidDataException"/> for a name no
    /// input declares, or for the batch axis.
    /// </summary>
    public static ModelProto Pin(ModelProto model, IReadOnlyList<(string Name, long Length)> pins)
    {
        if (pins.Count == 0) return model;
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        var free = inputs.SelectMany(i => Dims(i).Skip(1)).Where(d => d.HasDimParam).Select(d => d.DimParam).Distinct(StringComparer.Ordinal).ToList();
        var batches = inputs.Select(i => Dims(i).FirstOrDefault()).Where(d => d is { HasDimParam: true }).Select(d => d!.DimParam).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, length) in pins)
        {
            if (batches.Contains(name) && !free.Contains(name)) throw new InvalidDataException($"'{name}' is the batch axis, which stays free (devices batch their rows)");
            if (!free.Contains(name))
                throw new InvalidDataException($"no input has an axis named '{name}' (the free axes besides the batch: {(free.Count == 0 ? "none" : string.Join(", ", free))})");
            if (length is < 1 or > MaxLength) throw new InvalidDataException($"'{name}' pinned at {length}: from 1 to {MaxLength}");
        }

        var copy = model.Clone();
        var lengths = pins.ToDictionary(p => p.Name, p => p.Length, StringComparer.Ordinal);
        foreach (var value in copy.Graph.Input.Concat(copy.Graph.Output).Concat(copy.Graph.ValueInfo))
        {
            foreach (var dim in Dims(value))
            {
                if (dim.HasDimParam && lengths.TryGetValue(dim.DimParam, out var length)) dim.DimValue = length;
            }
        }

        return copy;
    }

    /// <summary>How a card or a check names the pins: <c>frames=8</c>, or <c>frames=6..8</c> for the axis <paramref name="varying"/> lets vary.</summary>
    public static string Text(IEnumerable<(string Name, long Length)> pins, Models.SampleLengths? varying = null, Models.SampleLengths? made = null) =>
        string.Join(',', pins.Select(p => p.Name == varying?.Name ? varying.Text : p.Name == made?.Name ? made.Text : p.Name + "=" + p.Length.ToString(CultureInfo.InvariantCulture)));

    private static IEnumerable<TensorShapeProto.Types.Dimension> Dims(ValueInfoProto value) => value.Type?.TensorType?.Shape?.Dim ?? [];
}
