using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Evaluation;

public sealed class FederatedImportanceTests
{
    private static EvaluationResult Result(ulong samples, ulong rows, ulong correct, params ulong[] shuffled)
    {
        var result = new EvaluationResult { Version = 3, SampleCount = samples, Accuracy = samples == 0 ? 0 : (double)correct / Math.Max(1, rows), Loss = 0.5, ImportanceRows = rows, ImportanceCorrect = correct };
        result.PermutedCorrect.AddRange(shuffled);
        return result;
    }

    [Fact]
    public void Combine_SumsCountsOverDevices_WeightingEachByItsRows()
    {
        // Device a: 100 rows, 90 right, 40 right with input 7 shuffled; device b: 300 rows, 240 right, 240 with it shuffled.
        var fleet = FederatedImportance.Combine(3, [7, 2], [Result(100, 100, 90, 40, 90), Result(500, 300, 240, 240, 230), Result(0, 0, 0)])!;
        Assert.Equal((2, 400L), (fleet.Devices, fleet.Rows));
        Assert.Equal(330.0 / 400, fleet.Accuracy, 12);
        Assert.Equal((330.0 - 280) / 400, fleet.Importance[0].Mean, 12);
        Assert.Equal((330.0 - 320) / 400, fleet.Importance[1].Mean, 12);
        Assert.Equal(7, fleet.Importance[0].Input);
    }

    [Theory]
    [InlineData(100UL, 100UL, 90UL, new ulong[] { 40, 90 }, true)]
    [InlineData(100UL, 0UL, 0UL, new ulong[0], true)]               // no budget or no rows: no answer is an answer
    [InlineData(100UL, 101UL, 90UL, new ulong[] { 40, 90 }, false)] // more rows than samples
    [InlineData(100UL, 100UL, 101UL, new ulong[] { 40, 90 }, false)] // more right than rows
    [InlineData(100UL, 100UL, 90UL, new ulong[] { 40, 101 }, false)] // more right shuffled than rows
    [InlineData(100UL, 100UL, 90UL, new ulong[] { 40 }, false)]     // fewer answers than inputs asked
    [InlineData(100UL, 0UL, 0UL, new ulong[] { 0, 0 }, false)]      // answers without rows
    public void IsPlausible_RefusesImpossibleCounts(ulong samples, ulong rows, ulong correct, ulong[] shuffled, bool plausible) =>
        Assert.Equal(plausible, FederatedImportance.IsPlausible(Result(samples, rows, correct, shuffled), askedInputs: 2));

    [Fact]
    public void AForgedReport_IsRejectedAsMalformed_AndTheOthersStillCount()
    {
        var evaluation = new FederatedEvaluation("m-eval-1", 3, ["a", "b"], new StandardStrategy(new StrategyOptions()), [7]);
        Assert.False(evaluation.TryAdd("a", Result(10, 10, 9, ulong.MaxValue), out var reason));
        Assert.Equal(RejectionReason.Malformed, reason);
        Assert.True(evaluation.TryAdd("b", Result(10, 10, 9, 4), out _));
        var report = evaluation.Report();
        Assert.Equal(1, report.Reported);
        Assert.Equal(0.5, report.Importance!.Importance[0].Mean, 12);
    }

    [Theory]
    [InlineData(ulong.MaxValue, 0.5, RejectionReason.BadSampleCount)] // summed as a long: negative
    [InlineData(1_000_001UL, 0.5, RejectionReason.BadSampleCount)]    // past what any update may claim
    [InlineData(1_000_000UL, 1e308, RejectionReason.NonFinite)]       // its loss times its samples is infinite
    [InlineData(10UL, -2.0, RejectionReason.NonFinite)]               // a loss is never negative
    public void AnAnswerWhoseCountsOrLossNoSumHolds_IsRefused_AndTheFleetsScoreStaysFinite(ulong samples, double loss, RejectionReason expected)
    {
        var evaluation = new FederatedEvaluation("m-eval-1", 3, ["a", "b"], new StandardStrategy(new StrategyOptions()));
        Assert.False(evaluation.TryAdd("a", new EvaluationResult { Version = 3, SampleCount = samples, Accuracy = 0.9, Loss = loss }, out var reason));
        Assert.Equal(expected, reason);
        Assert.True(evaluation.TryAdd("b", new EvaluationResult { Version = 3, SampleCount = 10, Accuracy = 0.5, Loss = 0.7 }, out _));
        var report = evaluation.Report();
        Assert.Equal((1, 10L, 0.5, 0.7), (report.Reported, report.Samples, report.Accuracy, report.Loss));
    }

    private static DependenceRequest Request(uint input, params float[] grid)
    {
        var request = new DependenceRequest { Input = input };
        request.Grid.AddRange(grid);
        return request;
    }

    private static EvaluationResult WithSums(ulong samples, ulong rows, params double[] sums)
    {
        var result = new EvaluationResult { Version = 3, SampleCount = samples, Accuracy = 0.5, Loss = 0.5 };
        var entry = new DependenceSums { Input = 4, Rows = rows };
        entry.Sums.AddRange(sums);
        result.Dependence.Add(entry);
        return result;
    }

    [Fact]
    public void DependenceSums_Combine_WeightedByRows_AndImpossibleSumsAreRefused()
    {
        DependenceRequest[] requests = [Request(4, 0f, 1f)];
        // Two classes, two grid points: device a (10 rows) and device b (30 rows).
        var a = WithSums(10, 10, 2, 8, 6, 4);
        var b = WithSums(50, 30, 30, 0, 15, 15);
        Assert.True(FederatedDependence.IsPlausible(a, requests, 2));
        Assert.True(FederatedDependence.IsPlausible(b, requests, 2));
        var curve = Assert.Single(FederatedDependence.Combine(requests, 2, [a, b]));
        Assert.Equal([32.0 / 40, 8.0 / 40], curve.Average[0]);
        Assert.Equal([21.0 / 40, 19.0 / 40], curve.Average[1]);

        Assert.False(FederatedDependence.IsPlausible(WithSums(10, 10, 2, 9, 6, 4), requests, 2));      // probabilities of a row add up to more than 1
        Assert.False(FederatedDependence.IsPlausible(WithSums(10, 10, -5, 15, 6, 4), requests, 2));    // a negative sum
        Assert.False(FederatedDependence.IsPlausible(WithSums(10, 20, 2, 18, 6, 14), requests, 2));    // more rows than samples
        Assert.False(FederatedDependence.IsPlausible(WithSums(10, 10, 2, 8, 6), requests, 2));         // the wrong shape
        Assert.False(FederatedDependence.IsPlausible(WithSums(10, 10, double.NaN, 8, 6, 4), requests, 2));
        Assert.True(FederatedDependence.IsPlausible(new EvaluationResult { SampleCount = 10 }, requests, 2)); // no answer: fine
    }

    [Fact]
    public void DependenceGrid_IsPlacedOnTheReferenceProfilesPercentiles_OrRefusedWithoutOne()
    {
        var reference = new EdgeMlOps.Shared.Monitoring.WindowProfile(2, 2);
        for (var i = 0; i <= 100; i++) reference.AddInputs([i, 7]);
        var request = Assert.Single(FederatedDependence.Requests([0], reference)!);
        Assert.Equal(FederatedDependence.GridPoints, request.Grid.Count);
        Assert.InRange(request.Grid[0], 3f, 7f);    // ~5th percentile of 0..100
        Assert.InRange(request.Grid[^1], 93f, 97f); // ~95th
        Assert.Equal([7f], Assert.Single(FederatedDependence.Requests([1], reference)!).Grid); // a constant input: one point
        Assert.Null(FederatedDependence.Requests([0], null));
        Assert.Empty(FederatedDependence.Requests([], null)!);
    }
}
