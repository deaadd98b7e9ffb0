namespace EdgeMlOps.Simulator.Data;

/// <summary>A labelled dataset held in memory: row-major features [Count, InputDim] and labels.</summary>
public sealed record Dataset(string Name, float[] Features, long[] Labels, int InputDim, int Classes)
{
    public int Count => Labels.Length;

    /// <summary>A regression dataset's targets, <see cref="TargetWidth"/> per row (its labels are all 0, its classes 0); null for classes.</summary>
    public float[]? Targets { get; init; }

    public int TargetWidth { get; init; }

    public float[] TargetRow(int index) => Targets!.AsSpan(index * TargetWidth, TargetWidth).ToArray();

    public float[] Row(int index) => Features.AsSpan(index * InputDim, InputDim).ToArray();

    /// <summary>The rows at <paramref name="indices"/>, as a new dataset.</summary>
    public Dataset Subset(IReadOnlyList<int> indices, string? name = null)
    {
        var features = new float[indices.Count * InputDim];
        var labels = new long[indices.Count];
        for (var i = 0; i < indices.Count; i++)
        {
            Features.AsSpan(indices[i] * InputDim, InputDim).CopyTo(features.AsSpan(i * InputDim));
            labels[i] = Labels[indices[i]];
        }

        float[]? targets = null;
        if (Targets is not null)
        {
            targets = new float[indices.Count * TargetWidth];
            for (var i = 0; i < indices.Count; i++) Targets.AsSpan(indices[i] * TargetWidth, TargetWidth).CopyTo(targets.AsSpan(i * TargetWidth));
        }

        return new Dataset(name ?? Name, features, labels, InputDim, Classes) { Targets = targets, TargetWidth = TargetWidth };
    }

    /// <summary>Seeded shuffle, then the first <paramref name="testCount"/> rows become the held-out set.</summary>
    public (Dataset Pool, Dataset Test) Split(int testCount, int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        return (Subset(order[testCount..], Name + "-pool"), Subset(order[..testCount], Name + "-test"));
    }
}
