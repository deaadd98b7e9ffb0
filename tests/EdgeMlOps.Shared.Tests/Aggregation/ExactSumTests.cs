using EdgeMlOps.Shared.Aggregation;

namespace EdgeMlOps.Shared.Tests.Aggregation;

public sealed class ExactSumTests
{
    private static (float[][] Rows, double[] Weights) Updates(int count, int length, int seed)
    {
        var random = new Random(seed);
        var rows = Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => (float)((random.NextDouble() - 0.5) * Math.Pow(10, random.Next(-6, 3)))).ToArray()).ToArray();
        var weights = Enumerable.Range(0, count).Select(_ => (double)random.Next(1, 5000)).ToArray();
        return (rows, weights);
    }

    private static float[] Mean(float[][] rows, double[] weights, IEnumerable<int> order, bool exact)
    {
        var sum = new StreamingWeightedSum(rows[0].Length, exact);
        foreach (var i in order) sum.Add(rows[i], weights[i]);
        return sum.Mean();
    }

    [Fact]
    public void ExactMode_GivesTheSameMeanBitForBit_InEveryArrivalOrder()
    {
        var (rows, weights) = Updates(200, 4096, 1);
        var reference = Mean(rows, weights, Enumerable.Range(0, rows.Length), exact: true);
        for (var seed = 0; seed < 5; seed++)
        {
            var order = Enumerable.Range(0, rows.Length).ToArray();
            new Random(seed).Shuffle(order);
            Assert.Equal(reference, Mean(rows, weights, order, exact: true)); // exact float equality, every element
        }
    }

    [Fact]
    public void StreamingMode_DependsOnArrivalOrderInTheLastBits_WhichIsWhyExactModeExists()
    {
        var (rows, weights) = Updates(200, 4096, 1);
        var order = Enumerable.Range(0, rows.Length).ToArray();
        new Random(3).Shuffle(order);
        var inOrder = Mean(rows, weights, Enumerable.Range(0, rows.Length), exact: false);
        var shuffled = Mean(rows, weights, order, exact: false);
        Assert.NotEqual(inOrder, shuffled);
        var exact = Mean(rows, weights, order, exact: true);
        for (var i = 0; i < exact.Length; i++) Assert.Equal(exact[i], inOrder[i], 1e-6 * Scale(rows, weights, i)); // fp32 staging: ~1e-7 of the terms' size
    }

    /// <summary>The size of the terms of element <paramref name="j"/>'s mean: Σ |x·w| / Σ w (what rounding errors scale with).</summary>
    private static double Scale(float[][] rows, double[] weights, int j) =>
        rows.Select((r, i) => Math.Abs(r[j] * weights[i])).Sum() / weights.Sum();

    [Fact]
    public void ExactMode_AgreesWithADecimalReference()
    {
        var (rows, weights) = Updates(50, 64, 2);
        var exact = Mean(rows, weights, Enumerable.Range(0, rows.Length), exact: true);
        for (var j = 0; j < 64; j++)
        {
            var total = 0m;
            var weight = 0m;
            for (var i = 0; i < rows.Length; i++)
            {
                total += (decimal)(double)rows[i][j] * (decimal)weights[i];
                weight += (decimal)weights[i];
            }

            Assert.Equal((double)(total / weight), exact[j], 1e-12 * Scale(rows, weights, j) + Math.Abs((double)(total / weight)) * 1e-7);
        }
    }
}
