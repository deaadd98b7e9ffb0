using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Fleet;

/// <summary>
/// The value fields a regressor's or multi-label classifier's devices report (shadow squared errors, A/B arms' squared
/// errors) come from the network like every count: a report whose figures cannot be true — not finite, negative, or a
/// sum of squares below what its sum forces — is dropped before a gate sums it, so one forged status cannot turn a
/// gate's figures into NaN or infinity.
/// </summary>
public sealed class ValueReportBoundsTests
{
    /// <summary>A regressor's shadow report of 10 labelled pairs: squared errors 1 each for the incumbent, 2 for the candidate.</summary>
    private static ShadowReport Shadow() => new()
    {
        RolloutId = "r", CandidateVersion = 2, IncumbentVersion = 1, Offered = 10, Scored = 10, Labelled = 10,
        ValueDifferenceSum = 3, ValueDifferenceMax = 0.5, IncumbentSquaredErrorSum = 10, CandidateSquaredErrorSum = 20, SquaredErrorDifferenceSquares = 10,
    };

    [Fact]
    public void AShadowReportWithImpossibleValueFigures_IsNotPlausible()
    {
        Assert.True(ReportBounds.IsPlausible(Shadow()));
        var forged = new Func<ShadowReport, ShadowReport>[]
        {
            r => { r.IncumbentSquaredErrorSum = double.NaN; return r; },
            r => { r.CandidateSquaredErrorSum = double.PositiveInfinity; return r; },
            r => { r.CandidateSquaredErrorSum = -1; return r; },
            r => { r.SquaredErrorDifferenceSquares = 1; return r; }, // the differences sum to 10 over 10 pairs: their squares sum to at least 10
            r => { r.ValueDifferenceSum = double.NaN; return r; },
            r => { r.ValueDifferenceMax = double.NegativeInfinity; return r; },
            r => { r.Labelled = 0; return r; }, // squared errors with no labelled pair
            r => { r.SkippedState = 11; return r; }, // more streaming calls skipped than requests offered
        };
        Assert.All(forged, f => Assert.False(ReportBounds.IsPlausible(f(Shadow()))));
    }

    [Fact]
    public void SquaredErrors_MustBeFinite_NotNegative_AndAtLeastTheirSumSquaredOverTheCount()
    {
        Assert.True(ReportBounds.SquaredErrors(0, 0, 0));
        Assert.True(ReportBounds.SquaredErrors(4, 10, 2)); // {1, 3}
        Assert.True(ReportBounds.SquaredErrors(4, 8, 2)); // {2, 2}: exactly (Σe)²/n
        Assert.False(ReportBounds.SquaredErrors(4, 7.9, 2));
        Assert.False(ReportBounds.SquaredErrors(1, 1, 0));
        Assert.False(ReportBounds.SquaredErrors(double.NaN, 1, 1));
        Assert.False(ReportBounds.SquaredErrors(1, double.PositiveInfinity, 1));
        Assert.False(ReportBounds.SquaredErrors(-1, 1, 1));
    }
}
