using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Shared.Tests.Privacy;

/// <summary>Student's t and the incomplete beta function behind it, against SciPy 1.10 (<c>2 * stats.t.sf(t, df)</c>, <c>stats.beta.cdf</c>).</summary>
public sealed class StudentTTests
{
    [Theory]
    [InlineData(2.0, 10, 0.07338803477074039)]
    [InlineData(1.0, 1, 0.5)]
    [InlineData(3.0, 5, 0.03009924789746257)]
    [InlineData(2.093, 19, 0.050002378942827976)]
    [InlineData(0.5, 40, 0.619814735233448)]
    [InlineData(-5.0, 3, 0.015392438073302296)]
    public void TwoSidedPValues_MatchSciPy(double t, double df, double expected) =>
        Assert.Equal(expected, SpecialFunctions.StudentTTwoSided(t, df), 10);

    [Fact]
    public void TheIncompleteBeta_MatchesSciPy_AndItsEnds()
    {
        Assert.Equal(0.018927124071945658, SpecialFunctions.RegularizedIncompleteBeta(0.3, 2.5, 0.5), 12);
        Assert.Equal(0, SpecialFunctions.RegularizedIncompleteBeta(0, 2, 3));
        Assert.Equal(1, SpecialFunctions.RegularizedIncompleteBeta(1, 2, 3));
        Assert.Equal(1, SpecialFunctions.StudentTTwoSided(0, 7), 12);
        Assert.Equal(0, SpecialFunctions.StudentTTwoSided(double.PositiveInfinity, 7));
        Assert.True(SpecialFunctions.StudentTTwoSided(1.96, 1e6) is > 0.0499 and < 0.0501); // many degrees of freedom: the normal
    }
}
