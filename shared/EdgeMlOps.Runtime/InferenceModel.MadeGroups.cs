namespace EdgeMlOps.Runtime;

/// <summary>
/// Rows behind a front end that takes one sample at a time (exported for one, as one whose count each sample's data
/// decides must be) before a model that takes batches: the front end runs sample by sample, the model once per count
/// it made — not once per sample, which cost scoring 7× (docs/BENCHMARKS.md, "front-end-per-sample").
/// </summary>
public sealed partial class InferenceModel
{
    /// <summary>
    /// <see cref="RunScores"/> for <paramref name="count"/> &gt; 1 rows behind a front end for one sample: what it makes
    /// of each, grouped by the count made, each group through the model as one batch, the results back in the rows' order.
    /// </summary>
    private float[] RunMadeGroups(float[] features, int count, int width, out float[]? front, out float[][] states, HashSet<int>? leftOut)
    {
        var sampleLength = features.Length / count;
        var (made, lengths, refused) = MadeRows(features, count);
        if (refused.Length > 0 && leftOut is null)
        {
            // Refused as a single request would be, saying how many it made and what the interface declares.
            RunScores(features[(refused[0] * sampleLength)..((refused[0] + 1) * sampleLength)], 1, width, out _, out _);
            throw new SampleRefusedException($"the preprocessing graph refused sample {refused[0]}");
        }

        leftOut?.UnionWith(refused);
        int[] kept = [.. Enumerable.Range(0, count).Except(refused)]; // in order: the rows whose made features are in `made`
        var from = new int[kept.Length];
        for (var k = 1; k < kept.Length; k++) from[k] = from[k - 1] + lengths[k - 1];
        var scores = new float[count * width];
        states = [.. _stateSpans.Select(span => new float[count * span.Length])];
        foreach (var group in Enumerable.Range(0, kept.Length).GroupBy(k => lengths[k]))
        {
            var (rows, length) = (group.ToArray(), group.Key);
            var batch = new float[rows.Length * length];
            for (var j = 0; j < rows.Length; j++) made.AsSpan(from[rows[j]], length).CopyTo(batch.AsSpan(j * length));
            var fed = _madeFeeds!.For(length).Feed(batch, rows.Length); // what it made, then the rows' context values
            try
            {
                var groupScores = RunModel(fed, rows.Length, width, out var groupStates);
                for (var j = 0; j < rows.Length; j++)
                {
                    var row = kept[rows[j]];
                    groupScores.AsSpan(j * width, width).CopyTo(scores.AsSpan(row * width));
                    for (var s = 0; s < states.Length; s++) groupStates[s].AsSpan(j * _stateSpans[s].Length, _stateSpans[s].Length).CopyTo(states[s].AsSpan(row * _stateSpans[s].Length));
                }
            }
            finally
            {
                foreach (var value in fed) value.Dispose();
            }
        }

        front = Monitored(made, lengths, kept, count);
        return scores;
    }

    /// <summary>
    /// What the front end made of each of <paramref name="count"/> samples of one length, sample by sample: the model's
    /// rows of the samples it took (what it made, then the sample's context values), laid end to end; each one's
    /// length; the samples it refused, in order.
    /// </summary>
    private (float[] Made, int[] Lengths, int[] Refused) MadeRows(float[] features, int count)
    {
        var graph = Spec.Graph!;
        var sampleLength = features.Length / count;
        try
        {
            var (made, lengths, refused) = _preprocess!.FeaturesOfLengths(features, [.. Enumerable.Repeat(sampleLength, count)], graph.Varying, graph.ContextLength, graph.FeatureLengths, graph.FeatureLength);
            return (made, lengths ?? [.. Enumerable.Repeat(graph.FeatureLength, count - refused.Length)], refused);
        }
        catch (SampleRefusedException)
        {
            return ([], [], [.. Enumerable.Range(0, count)]); // it refused every one
        }
    }

    /// <summary>What monitoring sketches of the rows the front end made (as <see cref="FrontFeatures"/> gives it), in the rows' places; zeros for a refused row.</summary>
    private float[] Monitored(float[] made, int[] lengths, int[] kept, int count)
    {
        var graph = Spec.Graph!;
        var summaries = graph.FeatureLengths is { } varying ? varying.Summaries(made, kept.Length, lengths) : made;
        var width = kept.Length == 0 ? 0 : summaries.Length / kept.Length;
        var monitored = new float[count * width];
        for (var k = 0; k < kept.Length; k++) summaries.AsSpan(k * width, width).CopyTo(monitored.AsSpan(kept[k] * width));
        return monitored;
    }
}
