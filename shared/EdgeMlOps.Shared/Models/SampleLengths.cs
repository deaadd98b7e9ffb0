using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Samples whose length varies along one free axis of the features input — clips of 6 to 8 frames, readings of windows
/// of any length within a range — on one fleet (<c>ModelInterface:AxisLengths=frames=6..8</c>). The interface's sample
/// dims hold the longest; a sample of length <c>L</c> is those dims with the axis at <c>L</c>, flattened row-major, so
/// its value count alone says its length (every other axis is fixed). Devices serve any length in the range, keep each
/// sample at its own length and train batches of one length at a time; monitoring sketches each sample's mean over the
/// axis (<see cref="StepWidth"/> values whatever its length), so windows of every length compare. A model with context
/// inputs has their values after the features in every row (<see cref="Trailing"/>, fixed): kept whole, sketched as
/// they are, and never cut.
/// </summary>
public sealed class SampleLengths : IEquatable<SampleLengths>
{
    private readonly long[] _longestDims;

    /// <param name="name">The axis as the graph names it (<c>frames</c>).</param>
    /// <param name="axis">Its position among the sample dims (0: the first axis behind the batch).</param>
    /// <param name="shortest">The shortest sample the fleet takes, below the longest (<paramref name="sampleDims"/> at <paramref name="axis"/>).</param>
    /// <param name="sampleDims">The sample dims at the longest length.</param>
    /// <param name="trailing">Values each sample row holds after the features (the context inputs'), whatever its length.</param>
    public SampleLengths(string name, int axis, long shortest, IReadOnlyList<long> sampleDims, int trailing = 0)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("Invalid sample lengths: the axis has no name");
        if (axis < 0 || axis >= sampleDims.Count) throw new ArgumentException($"Invalid sample lengths: axis {axis} of a sample with {sampleDims.Count} axes");
        if (trailing < 0) throw new ArgumentException($"Invalid sample lengths: {trailing} values after the features");
        if (shortest < 1 || shortest >= sampleDims[axis]) throw new ArgumentException($"Invalid sample lengths: '{name}' from {shortest} to {sampleDims[axis]} (the shortest from 1 to below the longest)");
        Name = name;
        Axis = axis;
        Shortest = shortest;
        _longestDims = [.. sampleDims];
        Trailing = trailing;
        StepWidth = checked((int)_longestDims.Where((_, i) => i != axis).Aggregate(1L, (a, d) => checked(a * d)));
    }

    public string Name { get; }

    public int Axis { get; }

    public long Shortest { get; }

    public long Longest => _longestDims[Axis];

    /// <summary>Values one step along the axis holds (a frame's 8 intensities): a sample of length L has L times as many features.</summary>
    public int StepWidth { get; }

    /// <summary>Values each sample row holds after its features (its context inputs'), whatever its length.</summary>
    public int Trailing { get; }

    /// <summary>Values monitoring sketches per sample: the features' mean over the axis, then the trailing values.</summary>
    public int SummaryWidth => StepWidth + Trailing;

    /// <summary>Values in a sample row of <paramref name="length"/>: its features, then the trailing values.</summary>
    public long ValuesAt(long length) => (length * StepWidth) + Trailing;

    /// <summary>The length of a sample of <paramref name="values"/> values, or null when no length in the range makes that many.</summary>
    public long? LengthOf(long values) =>
        values - Trailing is var features && features > 0 && features % StepWidth == 0 && features / StepWidth is var length && length >= Shortest && length <= Longest ? length : null;

    /// <summary>A sample's dims at <paramref name="length"/>.</summary>
    public long[] DimsAt(long length)
    {
        if (length < Shortest || length > Longest) throw new ArgumentOutOfRangeException(nameof(length), length, $"'{Name}' runs from {Shortest} to {Longest}");
        var dims = (long[])_longestDims.Clone();
        dims[Axis] = length;
        return dims;
    }

    /// <summary>
    /// The mean over the axis of one sample's features (row-major at its own length), then its trailing values as they
    /// are: <see cref="SummaryWidth"/> values, what monitoring sketches. Throws <see cref="ArgumentException"/> for a
    /// sample of no length in the range.
    /// </summary>
    public float[] Summary(ReadOnlySpan<float> sample)
    {
        var length = LengthOf(sample.Length) ?? throw new ArgumentException($"{sample.Length} values are no sample of {Describe()}", nameof(sample));
        var inner = _longestDims.Skip(Axis + 1).Aggregate(1L, (a, d) => a * d); // values behind one step of the axis
        var summary = new float[SummaryWidth];
        var features = sample.Length - Trailing;
        for (var i = 0; i < features; i++)
        {
            var outer = i / (length * inner);
            summary[(outer * inner) + (i % inner)] += sample[i];
        }

        for (var k = 0; k < StepWidth; k++) summary[k] /= length;
        sample[features..].CopyTo(summary.AsSpan(StepWidth));
        return summary;
    }

    /// <summary>
    /// <see cref="Summary"/> of each sample of <paramref name="samples"/>, laid end to end (sample <c>i</c> holds
    /// <paramref name="rowLengths"/>[i] values, or <see cref="ValuesAt"/> the longest each when null): rows of
    /// <see cref="SummaryWidth"/>, what monitoring sketches of them.
    /// </summary>
    public float[] Summaries(ReadOnlySpan<float> samples, int count, IReadOnlyList<int>? rowLengths)
    {
        var summaries = new float[count * SummaryWidth];
        for (int i = 0, at = 0; i < count; i++)
        {
            var width = rowLengths?[i] ?? checked((int)ValuesAt(Longest));
            Summary(samples.Slice(at, width)).CopyTo(summaries, i * SummaryWidth);
            at += width;
        }

        return summaries;
    }

    /// <summary>
    /// The first <paramref name="length"/> steps along the axis of a sample of the longest length (a clip's first
    /// frames), its trailing values kept: what a device that saw less of it would hold.
    /// </summary>
    public float[] Cut(ReadOnlySpan<float> longest, long length)
    {
        if (longest.Length != ValuesAt(Longest)) throw new ArgumentException($"{longest.Length} values are not a sample of the longest length, {ValuesAt(Longest)}", nameof(longest));
        var inner = checked((int)_longestDims.Skip(Axis + 1).Aggregate(1L, (a, d) => a * d));
        var outer = StepWidth / inner;
        var (from, to) = (checked((int)(Longest * inner)), checked((int)(DimsAt(length)[Axis] * inner)));
        var cut = new float[(outer * to) + Trailing];
        for (var o = 0; o < outer; o++) longest.Slice(o * from, to).CopyTo(cut.AsSpan(o * to, to));
        longest[^Trailing..].CopyTo(cut.AsSpan(outer * to));
        return cut;
    }

    /// <summary>How an error names the range: <c>6 to 8 'frames' (48 to 64 values in steps of 8)</c>, and the trailing values when there are.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Shortest} to {Longest} '{Name}' ({ValuesAt(Shortest)} to {ValuesAt(Longest)} values in steps of {StepWidth}{(Trailing > 0 ? $", the last {Trailing} the context inputs'" : string.Empty)})");

    /// <summary>How a card or a check names it: <c>frames=6..8</c>.</summary>
    public string Text => string.Create(CultureInfo.InvariantCulture, $"{Name}={Shortest}..{Longest}");

    public string CanonicalText => string.Create(CultureInfo.InvariantCulture, $"{Name}@{Axis}={Shortest}..{Longest}{(Trailing > 0 ? $"+{Trailing}" : string.Empty)}");

    public bool Equals(SampleLengths? other) => other is not null && CanonicalText == other.CanonicalText;

    public override bool Equals(object? obj) => Equals(obj as SampleLengths);

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}
