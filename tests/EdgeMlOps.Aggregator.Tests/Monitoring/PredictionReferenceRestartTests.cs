namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>
/// A version's prediction reference is kept in the registry: an aggregator restarted after it formed judges the next
/// window against it — it does not take that window (already moved) as a new reference and miss the drift.
/// </summary>
public sealed class PredictionReferenceRestartTests
{
    [Fact]
    public async Task ARestartedAggregator_JudgesPredictionsAgainstTheReferenceFormedBeforeIt()
    {
        var dir = AggregatorFixture.TempDirectory();
        var now = DateTimeOffset.UtcNow.AddMinutes(-10); // the later window is now: a profile dated ahead of the aggregator's clock is refused
        await using (var first = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1)))
        {
            await first.StartAsync(CancellationToken.None);
            Assert.True(first.Drift.AddProfile("dev-1", ClassMixWindow.Report("test", "dev-1", 2, now, 0.5)).Accepted);
            await first.EvaluateDriftAsync(first.Monitor.WindowOf(now), CancellationToken.None);
            Assert.Equal(240, first.Monitor.PredictionReference(1)!.PredictedClasses.Sum());
        }

        await using var second = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1));
        await second.StartAsync(CancellationToken.None);
        var kept = second.Monitor.PredictionReference(1);
        Assert.NotNull(kept); // read from the registry at start
        Assert.Equal([120L, 120L], kept.PredictedClasses);
        var later = now.AddMinutes(10);
        Assert.True(second.Drift.AddProfile("dev-1", ClassMixWindow.Report("test", "dev-1", 3, later, 0.8)).Accepted);
        var report = Assert.Single(await second.EvaluateDriftAsync(second.Monitor.WindowOf(later), CancellationToken.None));
        Assert.True(report.PredictionDrift, "the moved window is judged against the kept reference");
    }
}
