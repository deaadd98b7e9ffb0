using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Storage;

/// <summary>Labelled samples for local training, as row-major features and labels.</summary>
public sealed record SampleSet(float[] Features, long[] Labels, int InputDim)
{
    public int Count => Labels.Length;

    /// <summary>A regressor's ground truth: <see cref="TargetWidth"/> floats per sample, row-major (then every label is −1); null for class labels.</summary>
    public float[]? Targets { get; init; }

    public int TargetWidth { get; init; }

    /// <summary>
    /// Values in each sample when they differ (samples of several lengths along a free axis, laid end to end); null
    /// when every sample holds <see cref="InputDim"/>.
    /// </summary>
    public int[]? RowLengths { get; init; }

    /// <summary>The samples of <paramref name="width"/> values, in order: all of them when every sample has that width.</summary>
    public SampleSet OfWidth(int width)
    {
        if (RowLengths is null) return width == InputDim ? this : new SampleSet([], [], width) { Targets = Targets is null ? null : [], TargetWidth = TargetWidth };
        var (features, labels, targets) = (new List<float>(), new List<long>(), new List<float>());
        for (int i = 0, at = 0; i < Count; at += RowLengths[i], i++)
        {
            if (RowLengths[i] != width) continue;
            features.AddRange(Features.AsSpan(at, width));
            labels.Add(Labels[i]);
            if (Targets is not null) targets.AddRange(Targets.AsSpan(i * TargetWidth, TargetWidth));
        }

        return new SampleSet([.. features], [.. labels], width) { Targets = Targets is null ? null : [.. targets], TargetWidth = TargetWidth };
    }

    /// <summary>The samples at <paramref name="kept"/> (indices in order), all of one width.</summary>
    public SampleSet Rows(int[] kept)
    {
        if (RowLengths is not null) throw new InvalidOperationException("samples of several lengths: take one width first (OfWidth)");
        if (kept.Length == Count) return this;
        return new SampleSet([.. kept.SelectMany(i => Features.AsSpan(i * InputDim, InputDim).ToArray())], [.. kept.Select(i => Labels[i])], InputDim)
        {
            Targets = Targets is null ? null : [.. kept.SelectMany(i => Targets.AsSpan(i * TargetWidth, TargetWidth).ToArray())],
            TargetWidth = TargetWidth,
        };
    }

    /// <summary>The widths the samples have, shortest first (<see cref="InputDim"/> alone when they have one).</summary>
    public IEnumerable<int> Widths => RowLengths is null ? [InputDim] : RowLengths.Distinct().Order();

    /// <summary>What monitoring sketches of each sample of several lengths: its mean over the varying axis, row-major, then its context values (<see cref="SampleLengths.SummaryWidth"/> values each).</summary>
    public float[] Summaries(SampleLengths varying) => varying.Summaries(Features, Count, RowLengths);
}
