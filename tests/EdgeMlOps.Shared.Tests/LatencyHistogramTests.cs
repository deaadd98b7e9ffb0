using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Shared.Tests;

public class LatencyHistogramTests
{
    [Fact]
    public void Quantiles_AreWithinTheStatedRelativeError()
    {
        var random = new Random(4);
        var values = Enumerable.Range(0, 20_000).Select(_ => Math.Exp(random.NextDouble() * 10) * 5).ToArray(); // 5 µs .. 110 ms
        var histogram = new LatencyHistogram();
        foreach (var v in values) histogram.Record(TimeSpan.FromTicks((long)(v * 10)));
        Array.Sort(values);
        foreach (var q in new[] { 0.5, 0.95, 0.99 })
        {
            var exact = values[(int)Math.Ceiling(q * values.Length) - 1];
            var reported = histogram.Quantile(q).Ticks / 10.0;
            Assert.InRange(reported / exact, 0.99, 1.19 + 0.01);
        }
    }

    [Fact]
    public void Merge_EqualsRecordingEverythingInOne()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        var all = new LatencyHistogram();
        for (var i = 1; i <= 1000; i++)
        {
            var d = TimeSpan.FromMicroseconds(i * 7);
            (i % 3 == 0 ? a : b).Record(d);
            all.Record(d);
        }

        a.Merge(b);
        Assert.Equal(all.Snapshot(), a.Snapshot());
        Assert.Equal(all.Quantile(0.95), a.Quantile(0.95));
        Assert.Equal(TimeSpan.Zero, new LatencyHistogram().Quantile(0.5));
    }
}
