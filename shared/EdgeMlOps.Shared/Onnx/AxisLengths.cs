using System.Globalization;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>
/// Free axes an exporter left symbolic besides the batch (<c>dynamic_axes={"rows": {1: "frames"}}</c>: frames of any
/// length, tokens of any count), pinned by the operator at the one length the fleet serves and trains
/// (<c>ModelInterface:AxisLengths=frames=8</c>). The pins are applied to a copy of the graph that the interface is read
/// from and the train step is generated from; the uploaded file is served byte for byte, its axis still free.
/// </summary>
public static class AxisLengths
{
    /// <summary>Longest a pinned axis may be.</summary>
    public const long MaxLength = 1 << 16;

    /// <summary>
    /// <c>NAME=LENGTH,…</c> (the axes' names as the graph declares them). Throws <see cref="ArgumentException"/> saying what is wrong.
    /// </summary>
    public static IReadOnlyList<(string Name, long Length)> Parse(string text)
    {
        var pins = new List<(string, long)>();
        foreach (var item in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = item.Split('=', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length is < 1 or > MaxLength)
                throw new ArgumentException($"'{item}' is not AXIS=LENGTH with a length from 1 to {MaxLength}");
            pins.Add((parts[0], length));
        }

        if (pins.Select(p => p.Item1).Distinct(StringComparer.Ordinal).Count() != pins.Count) throw new ArgumentException("an axis is pinned twice");
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

    /// <summary>How a card or a check names the pins: <c>frames=8</c>.</summary>
    public static string Text(IEnumerable<(string Name, long Length)> pins) =>
        string.Join(',', pins.Select(p => p.Name + "=" + p.Length.ToString(CultureInfo.InvariantCulture)));

    private static IEnumerable<TensorShapeProto.Types.Dimension> Dims(ValueInfoProto value) => value.Type?.TensorType?.Shape?.Dim ?? [];
}
