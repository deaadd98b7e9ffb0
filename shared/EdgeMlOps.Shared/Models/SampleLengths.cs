using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Samples whose length varies along one free axis of the features input — clips of 6 to 8 frames, readings of windows
/// of any length within a range — on one fleet (<c>ModelInterface:AxisLengths=frames=6..8</c>). The interface's sample
/// dims hold the longest; a sample of length <c>L</c> is those dims with the axis at <c>L</c>, flattened row-major, so
/// its value count alone says its length (every other axis is fixed). Devices serve any length in the range, keep each
/// sample at its own length and train batches of one length at a time; monitoring sketches each sample's mean over the
/// axis (<see cref="StepWidth"/> values whatever its length), so windows of every length compare.
/// </summary>
public sealed class SampleLengths : IEquatable<SampleLengths>
{
    private readonly long[] _longestDims;

    /// <param name="name">The axis as the graph names it (<c>frames</c>).</param>
    /// <param name="axis">Its position among the sample dims (0: the first axis behind the batch).</param>
    /// <param name="shortest">The shortest sample the fleet takes, below the longest (<paramref name="sampleDims"/> at <paramref name="axis"/>).</param>
    /// <param name="sampleDims">The sample dims at the longest length.</param>
    public SampleLengths(string name, int axis, long shortest, IReadOnlyList<long> sampleDims)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("Invalid sample lengths: the axis has no name");
        if (axis < 0 || axis >= sampleDims.Count) throw new ArgumentException($"Invalid sample lengths: axis {axis} of a sample with {sampleDims.Count} axes");
        if (shortest < 1 || shortest >= sampleDims[axis]) throw new ArgumentException($"Invalid sample lengths: '{name}' from {shortest} to {sampleDims[axis]} (the shortest from 1 to below the longest)");
        Name = name;
        Axis = axis;
        Shortest = shortest;
        _longestDims = [.. sampleDims];
        StepWidth = checked((int)_longestDims.Where((_, i) => i != axis).Aggregate(1L, (a, d) => checked(a * d)));
    }

    public string Name { get; }

    public int Axis { get; }

    public long Shortest { get; }

    public long Longest => _longestDims[Axis];

    /// <summary>Values one step along the axis holds (a frame's 8 intensities): a sample of length L has L times as many.</summary>
    public int StepWidth { get; }

    /// <summary>The length of a sample of <paramref name="values"/> values, or null when no length in the range makes that many.</summary>
    public long? LengthOf(long values) =>
        values > 0 && values % StepWidth == 0 && values / StepWidth is var length && length >= Shortest && length <= Longest ? length : null;

    /// <summary>A sample's dims at <paramref name="length"/>.</summary>
    public long[] DimsAt(long length)
    {
        if (length < Shortest || length > Longest) throw new ArgumentOutOfRangeException(nameof(length), length, $"'{Name}' runs from {Shortest} to {Longest}");
        var dims = (long[])_longestDims.Clone();
        dims[Axis] = length;
        return dims;
    }

    /// <summary>
    /// The mean over the axis of one sample (row-major at its own length): <see cref="StepWidth"/> values, what monitoring
    /// sketches. Throws <see cref="ArgumentException"/> for a sample of no length in the range.
    /// </summary>
    public float[] Summary(ReadOnlySpan<float> sample)
    {
        var length = LengthOf(sample.Length) ?? throw new ArgumentException($"{sample.Length} values are no sample of {Describe()}", nameof(sample));
        var inner = _longestDims.Skip(Axis + 1).Aggregate(1L, (a, d) => a * d); // values behind one step of the axis
        var summary = new float[StepWidth];
        for (var i = 0; i < sample.Length; i++)
        {
            var outer = i / (length * inner);
            summary[(outer * inner) + (i % inner)] += sample[i];
        }

        for (var k = 0; k < summary.Length; k++) summary[k] /= length;
        return summary;
    }

    /// <summary>
    /// The first <paramref name="length"/> steps along the axis of a sample of the longest length (a clip's first
    /// frames): what a device that saw less of it would hold.
    /// </summary>
    public float[] Cut(ReadOnlySpan<float> longest, long length)
    {
        if (longest.Length != Longest * StepWidth) throw new ArgumentException($"{longest.Length} values are not a sample of the longest length, {Longest * StepWidth}", nameof(longest));
        var inner = checked((int)_longestDims.Skip(Axis + 1).Aggregate(1L, (a, d) => a * d));
        var outer = StepWidth / inner;
        var (from, to) = (checked((int)(Longest * inner)), checked((int)(DimsAt(length)[Axis] * inner)));
        var cut = new float[outer * to];
        for (var o = 0; o < outer; o++) longest.Slice(o * from, to).CopyTo(cut.AsSpan(o * to, to));
        return cut;
    }

    /// <summary>How an error names the range: <c>6 to 8 'frames' (48 to 64 values in steps of 8)</c>.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Shortest} to {Longest} '{Name}' ({Shortest * StepWidth} to {Longest * StepWidth} values in steps of {StepWidth})");

    /// <summary>How a card or a check names it: <c>frames=6..8</c>.</summary>
    public string Text => string.Create(CultureInfo.InvariantCulture, $"{Name}={Shortest}..{Longest}");

    public string CanonicalText => string.Create(CultureInfo.InvariantCulture, $"{Name}@{Axis}={Shortest}..{Longest}");

    public bool Equals(SampleLengths? other) => other is not null && CanonicalText == other.CanonicalText;

    public override bool Equals(object? obj) => Equals(obj as SampleLengths);

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}
