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
}
