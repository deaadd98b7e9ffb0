namespace EdgeMlOps.Simulator.Data;

/// <summary>A labelled dataset held in memory: row-major features [Count, InputDim] and labels.</summary>
public sealed record Dataset(string Name, float[] Features, long[] Labels, int InputDim, int Classes)
{
    public int Count => Labels.Length;

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

        return new Dataset(name ?? Name, features, labels, InputDim, Classes);
    }

    /// <summary>Seeded shuffle, then the first <paramref name="testCount"/> rows become the held-out set.</summary>
    public (Dataset Pool, Dataset Test) Split(int testCount, int seed)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        new Random(seed).Shuffle(order);
        return (Subset(order[testCount..], Name + "-pool"), Subset(order[..testCount], Name + "-test"));
    }
}
