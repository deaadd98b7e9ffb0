using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>A session's window of a streamed input (see <see cref="InputWindow"/>) and how many of its positions hold streamed values.</summary>
public sealed record StreamWindow(NamedTensor Window, int Filled);

/// <summary>Shifts a streamed chunk into a session's window of an input: the oldest positions out, the chunk's in at the end.</summary>
public static class StreamWindows
{
    /// <summary>
    /// The window after <paramref name="chunk"/>: <paramref name="current"/> (zeros when null or of another shape) moved
    /// back by the chunk's length along the window's axis, the chunk after it. Throws <see cref="ArgumentException"/>
    /// saying what is wrong with the chunk.
    /// </summary>
    public static StreamWindow Shift(InputWindow window, TensorSignature declared, StreamWindow? current, NamedTensor chunk)
    {
        var length = window.Length(declared);
        var axis = window.Axis;
        if (chunk.Type != declared.Type || chunk.Data.GetType() != NamedTensor.ArrayType(declared.Type) || chunk.Dims.Length != declared.Dims.Count)
            throw new ArgumentException($"input '{chunk.Name}' is streamed as {declared.Type.ToString().ToLowerInvariant()} chunks of {declared.Dims.Count} axes (declared [{string.Join(", ", declared.Dims)}], any 1 to {length} along axis {axis})");
        var step = chunk.Dims[axis];
        var dims = chunk.Dims.ToArray();
        dims[axis] = length;
        if (step < 1 || step > length || !declared.Accepts(dims))
            throw new ArgumentException($"input '{chunk.Name}' chunk has shape [{string.Join(", ", chunk.Dims)}]; its window is declared [{string.Join(", ", declared.Dims)}], a chunk takes 1 to {length} along axis {axis}");
        if (NamedTensor.ElementCount(chunk.Dims) != chunk.Data.Length) throw new ArgumentException($"input '{chunk.Name}' has {chunk.Data.Length} values for shape [{string.Join(", ", chunk.Dims)}]");

        var kept = current is not null && current.Window.Dims.SequenceEqual(dims) ? current : null;
        var next = NamedTensor.Zeros(new TensorSignature(chunk.Name, chunk.Type, dims));
        var inner = dims.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
        var outer = dims.Take(axis).Aggregate(1L, (a, d) => a * d);
        for (long o = 0; o < outer; o++)
        {
            var start = o * length * inner;
            if (kept is not null) Array.Copy(kept.Window.Data, start + step * inner, next.Data, start, (length - step) * inner);
            Array.Copy(chunk.Data, o * step * inner, next.Data, start + (length - step) * inner, step * inner);
        }

        return new StreamWindow(next, (int)Math.Min(length, (kept?.Filled ?? 0) + step));
    }
}
