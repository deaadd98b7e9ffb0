using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator.Tests.Data;

public class PartitionTests
{
    private static readonly Dataset Data = SyntheticDataset.Generate(1000, 4, 10, seed: 2);

    private static Partition Parse(string text) => Partition.TryParse(text, out var p, out var error) ? p : throw new ArgumentException(error);

    [Fact]
    public void Iid_SplitsEveryIndexOnce_InEqualShares()
    {
        var parts = Parse("iid").Split(Data, 10, seed: 1);
        Assert.All(parts, p => Assert.Equal(100, p.Length));
        Assert.Equal(Enumerable.Range(0, 1000), parts.SelectMany(p => p).Order());
    }

    [Theory]
    [InlineData(1000, 7)]
    [InlineData(5, 12)]
    public void Iid_DealsTheShuffledOrderRoundRobin_AsItAlwaysDid(int samples, int devices)
    {
        // The split's definition (and so every seeded curve) must not move: device d takes positions d, d + N, ...
        var data = SyntheticDataset.Generate(samples, 2, 3, seed: 2);
        var order = Enumerable.Range(0, samples).ToArray();
        new Random(1).Shuffle(order);
        var expected = Enumerable.Range(0, devices).Select(d => order.Where((_, i) => i % devices == d).ToArray()).ToArray();
        Assert.Equal(expected, Parse("iid").Split(data, devices, seed: 1));
    }

    [Fact]
    public void Iid_OverAHundredThousandDevices_TakesOnePass()
    {
        var data = SyntheticDataset.Generate(300_000, 1, 2, seed: 2);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var parts = Parse("iid").Split(data, 100_000, seed: 1);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed}");
        Assert.All(parts, p => Assert.Equal(3, p.Length));
    }

    [Fact]
    public void Shards_GiveEachDeviceAtMostKLabels()
    {
        var parts = Parse("shards:2").Split(Data, 20, seed: 1);
        // A shard may straddle a label boundary, so a device sees at most 2K labels.
        Assert.All(parts, p => Assert.InRange(p.Select(i => Data.Labels[i]).Distinct().Count(), 1, 4));
        Assert.True(parts.Average(p => p.Select(i => Data.Labels[i]).Distinct().Count()) <= 3);
        Assert.Equal(parts.SelectMany(p => p).Count(), parts.SelectMany(p => p).Distinct().Count());
    }

    [Fact]
    public void Dirichlet_SmallAlpha_IsSkewed_AndCoversEverything()
    {
        var parts = Parse("dirichlet:0.1").Split(Data, 10, seed: 1);
        Assert.Equal(Enumerable.Range(0, 1000), parts.SelectMany(p => p).Order());
        var labelsPerDevice = parts.Where(p => p.Length > 0).Average(p => p.Select(i => Data.Labels[i]).Distinct().Count());
        Assert.True(labelsPerDevice < 7, $"{labelsPerDevice:F1} labels per device");
    }

    [Theory]
    [InlineData("shards")]
    [InlineData("shards:0")]
    [InlineData("dirichlet:-1")]
    [InlineData("noniid")]
    public void BadPartitionText_IsRefused(string text) => Assert.False(Partition.TryParse(text, out _, out _));

    [Fact]
    public void Options_ListEveryProblem()
    {
        var ex = Assert.Throws<ArgumentException>(() => SimulationOptions.Parse(["--devices", "0", "--dataset", "cifar", "--partition", "x", "--bogus", "1"]));
        Assert.Equal(4, ex.Message.Split(Environment.NewLine).Length);
    }

    [Fact]
    public void Options_Defaults_FollowMcMahan()
    {
        var o = SimulationOptions.Parse([]);
        Assert.Equal((0.1, 5, 10), (o.Fraction, o.LocalEpochs, o.Batch));
    }

    [Fact]
    public void Mnist_LoadsTenThousandDigits()
    {
        var mnist = MnistDataset.Load();
        Assert.Equal(10_000, mnist.Count);
        Assert.Equal(784, mnist.InputDim);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), mnist.Labels.Distinct().Order());
        Assert.InRange(mnist.Features.Max(), 0.99f, 1f);
        Assert.Equal(0f, mnist.Features.Min());
    }
}
