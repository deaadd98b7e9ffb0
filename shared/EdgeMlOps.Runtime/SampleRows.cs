using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>
/// Samples of several lengths laid end to end (<see cref="GraphInterface.Varying"/>): where each starts and how many
/// values it holds, and how an epoch cuts them into mini-batches of one length each.
/// </summary>
internal sealed class SampleRows
{
    private SampleRows(int[] lengths, int[] offsets) => (Lengths, Offsets) = (lengths, offsets);

    /// <summary>Values in each sample.</summary>
    public int[] Lengths { get; }

    /// <summary>Where each sample starts.</summary>
    public int[] Offsets { get; }

    /// <summary>
    /// The samples <paramref name="rowLengths"/> describe over <paramref name="total"/> values. Throws
    /// <see cref="ArgumentException"/> for a length the model does not take or lengths that do not add up.
    /// </summary>
    public static SampleRows Of(int[] rowLengths, int total, SampleFeedsByLength feeds)
    {
        var offsets = new int[rowLengths.Length];
        long at = 0;
        for (var i = 0; i < rowLengths.Length; i++)
        {
            if (!feeds.Takes(rowLengths[i])) throw new ArgumentException($"sample {i} holds {rowLengths[i]} values, a length the model does not take", nameof(rowLengths));
            offsets[i] = (int)Math.Min(at, int.MaxValue);
            at += rowLengths[i];
        }

        if (at != total) throw new ArgumentException($"the samples' lengths add up to {at} values, not the {total} given", nameof(rowLengths));
        return new SampleRows([.. rowLengths], offsets);
    }

    /// <summary>The first value fed as an id that is not one, in any sample: its index within its sample and its input; or null.</summary>
    public (int Index, GraphInterface.SampleSpan Input)? FirstInvalidId(float[] features, SampleFeedsByLength feeds)
    {
        for (var i = 0; i < Lengths.Length; i++)
        {
            if (feeds.For(Lengths[i]).FirstInvalidId(features.AsSpan(Offsets[i], Lengths[i])) is { } bad) return bad;
        }

        return null;
    }

    /// <summary>
    /// One epoch's batches: the shuffled <paramref name="order"/> cut into batches of up to <paramref name="size"/>
    /// samples of one length (shortest length first, each in its shuffled order), the batches then shuffled by
    /// <paramref name="random"/> — samples of one length alone keep the order a fixed-length step takes. Returns the samples in batch order; <paramref name="batches"/> receives each batch's
    /// start and count in it.
    /// </summary>
    public int[] Arrange(int[] order, int size, Random random, List<(int Start, int Count)> batches)
    {
        var groups = order.GroupBy(s => Lengths[s]).OrderBy(g => g.Key).ToList();
        var cuts = groups.SelectMany(g => g.Chunk(size)).ToArray();
        if (groups.Count > 1) random.Shuffle(cuts); // one length: the batches of a fixed-length step, in the same order
        var arranged = new int[order.Length];
        batches.Clear();
        var at = 0;
        foreach (var cut in cuts)
        {
            batches.Add((at, cut.Length));
            cut.CopyTo(arranged, at);
            at += cut.Length;
        }

        return arranged;
    }
}
