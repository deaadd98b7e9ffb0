using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>The shadow gate alone: device reports in, a verdict out.</summary>
public sealed class ShadowGateTests
{
    private static readonly RolloutGates Gates = new() { MinFeedback = 50, MaxAccuracyDrop = 0.05, AccuracyConfidence = 0.95, MaxFailureRate = 0.05 };

    private static ShadowReport Report(ulong scored, ulong agreed, ulong labelled = 0, ulong onlyIncumbent = 0, ulong onlyCandidate = 0, double incumbentP95 = 1, double candidateP95 = 1, ulong errors = 0) => new()
    {
        RolloutId = "r",
        CandidateVersion = 2,
        Offered = scored,
        Scored = scored,
        Agreed = agreed,
        Labelled = labelled,
        IncumbentCorrect = labelled - onlyCandidate,
        CandidateCorrect = labelled - onlyIncumbent,
        OnlyIncumbentCorrect = onlyIncumbent,
        OnlyCandidateCorrect = onlyCandidate,
        IncumbentLatencyP95Ms = incumbentP95,
        CandidateLatencyP95Ms = candidateP95,
        CandidateErrors = errors,
        DistanceSum = scored * 0.1,
    };

    /// <summary>
    /// A bound beside the drop limit prints on its side of it: a CI run's shadow abort at −0.0502 read "−0.050 … drop >
    /// 0.05" (and the rollout scenario's check of the printed bound failed); it reads −0.0502 now. Far from it, three
    /// decimals.
    /// </summary>
    [Fact]
    public void ADifferenceBesideTheLimit_PrintsOnItsSideOfIt()
    {
        Assert.Equal("-0.0502", ShadowGate.Beside(-0.05018809554883175, -0.05));
        Assert.Equal("-0.050", ShadowGate.Beside(-0.0496, -0.05)); // above the limit, and so printed
        Assert.Equal("-0.133", ShadowGate.Beside(-0.13329814298327836, -0.05));
        Assert.Equal("+0.021", ShadowGate.Beside(0.0213, -0.05));
    }

    [Fact]
    public void TooFewScoredRequests_Wait()
    {
        var reading = ShadowGate.Judge(new ShadowRequest { MinScored = 200 }, Gates, [Report(150, 150, 100)], failed: 0);
        Assert.StartsWith("wait: 150 requests scored on 1 shadow devices", reading.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AgreeingCandidate_WithPairedAccuracyNoWorse_Passes()
    {
        var reading = ShadowGate.Judge(new ShadowRequest { MinAgreement = 0.9 }, Gates, [Report(300, 295, 120, onlyIncumbent: 2, onlyCandidate: 3), Report(300, 297, 100, 1, 1)], failed: 0);
        Assert.Equal("pass", reading.Verdict.ToString());
        Assert.Equal(2, reading.Devices);
        Assert.Equal(592.0 / 600, reading.Agreement!.Value, 9);
        Assert.True(reading.AgreementLower > 0.97 && reading.AgreementUpper < 1.0001);
        Assert.Equal(0.1, reading.MeanDistance!.Value, 9);
    }

    [Fact]
    public void WithoutLabels_AgreementConfidentlyBelowTheFloor_Fails_AndNearItWaits()
    {
        var unlabelled = new ShadowRequest { MinAgreement = 0.9, RequireLabels = false, MinScored = 100 };
        var low = ShadowGate.Judge(unlabelled, Gates, [Report(400, 200)], failed: 0);
        Assert.StartsWith("fail: agrees with the served version on 50.0 % of 400 requests", low.Verdict.ToString(), StringComparison.Ordinal);

        var near = ShadowGate.Judge(unlabelled, Gates, [Report(200, 178)], failed: 0); // 89%: cannot tell yet
        Assert.StartsWith("wait: agreement 89.0 %", near.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ACandidateThatDisagreesBecauseItIsBetter_Passes()
    {
        // 60% agreement, but on 200 labelled pairs the candidate alone is right 60 times and the incumbent alone 5.
        var reading = ShadowGate.Judge(new ShadowRequest { MinAgreement = 0.9 }, Gates, [Report(400, 240, 200, onlyIncumbent: 5, onlyCandidate: 60)], failed: 0);
        Assert.Equal("pass", reading.Verdict.ToString());
        Assert.True(reading.AccuracyDifferenceLower > 0.2, $"{reading}");
    }

    [Fact]
    public void PairedAccuracyConfidentlyWorse_Fails()
    {
        // 200 labelled pairs: the candidate alone is wrong on 40, alone right on 5: 17.5 points worse.
        var reading = ShadowGate.Judge(new ShadowRequest(), Gates, [Report(400, 350, 200, onlyIncumbent: 40, onlyCandidate: 5)], failed: 0);
        Assert.StartsWith("fail: ground-truth accuracy", reading.Verdict.ToString(), StringComparison.Ordinal);
        Assert.True(reading.AccuracyDifferenceUpper < -0.05);
    }

    [Fact]
    public void LabelsAreAwaited_UnlessThePolicySaysTheFleetHasNone()
    {
        Assert.StartsWith("wait: 10 labelled shadow requests (need 50)", ShadowGate.Judge(new ShadowRequest(), Gates, [Report(400, 400, 10)], 0).Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal("pass", ShadowGate.Judge(new ShadowRequest { RequireLabels = false }, Gates, [Report(400, 400)], 0).Verdict.ToString());
    }

    [Fact]
    public void LoadFailures_Errors_AndSlowness_EachFail()
    {
        Assert.StartsWith("fail: 1 of 3 shadow devices could not load", ShadowGate.Judge(new ShadowRequest(), Gates, [Report(400, 400, 100), Report(400, 400, 100)], failed: 1).Verdict.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("fail: the version failed on 20 of 420", ShadowGate.Judge(new ShadowRequest(), Gates, [Report(400, 400, 100, errors: 20)], 0).Verdict.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("fail: shadow p95 latency 3.00×", ShadowGate.Judge(new ShadowRequest { MaxLatencyP95Ratio = 2 }, Gates, [Report(400, 400, 100, incumbentP95: 1, candidateP95: 3)], 0).Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal("pass", ShadowGate.Judge(new ShadowRequest { MaxLatencyP95Ratio = 2 }, Gates, [Report(400, 400, 100, incumbentP95: 0.045, candidateP95: 0.108)], 0).Verdict.ToString());
        Assert.StartsWith("fail: shadow p95 latency 2.40×", ShadowGate.Judge(new ShadowRequest { MaxLatencyP95Ratio = 2, MinLatencyIncreaseMs = 0.05 }, Gates, [Report(400, 400, 100, incumbentP95: 0.045, candidateP95: 0.108)], 0).Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal("pass", ShadowGate.Judge(new ShadowRequest { MaxLatencyP95Ratio = 0 }, Gates, [Report(400, 400, 100, incumbentP95: 1, candidateP95: 3)], 0).Verdict.ToString());
    }

    [Fact]
    public void ThePairedTest_PassesAWorseCandidateRarely_AndAnEqualOneUsually()
    {
        // Simulated shadows: 300 labelled pairs; the incumbent is right 85% of the time; the candidate copies it except
        // on a share of requests. Truly 10 points worse must pass at most ~5% of the time; truly equal must pass mostly.
        static (int Passed, int Failed) Run(double worse, int seed)
        {
            var random = new Random(seed);
            int passed = 0, failed = 0;
            for (var trial = 0; trial < 2000; trial++)
            {
                long onlyIncumbent = 0, onlyCandidate = 0;
                for (var i = 0; i < 300; i++)
                {
                    var incumbentRight = random.NextDouble() < 0.85;
                    var candidateRight = incumbentRight;
                    if (random.NextDouble() < 0.2) candidateRight = random.NextDouble() < 0.85 - worse; // redrawn on a fifth of requests
                    if (incumbentRight && !candidateRight) onlyIncumbent++;
                    if (candidateRight && !incumbentRight) onlyCandidate++;
                }

                var verdict = AccuracyComparison.JudgePaired(onlyCandidate, onlyIncumbent, 300, 0.05, 0.95).Verdict;
                if (verdict == AccuracyVerdict.Pass) passed++;
                if (verdict == AccuracyVerdict.Fail) failed++;
            }

            return (passed, failed);
        }

        var worse = Run(0.5, 1); // 0.2 × 0.5 = 10 points worse overall
        Assert.True(worse.Passed < 2000 * 0.05, $"a 10-point-worse candidate passed {worse.Passed} of 2000 times");
        var equal = Run(0, 2);
        Assert.True(equal.Passed > 2000 * 0.9, $"an equal candidate passed only {equal.Passed} of 2000 times");
        Assert.True(equal.Failed < 2000 * 0.05, $"an equal candidate failed {equal.Failed} of 2000 times");
    }

    /// <summary>A regressor's report: squared errors drawn per request, so the sums and the paired spread are real.</summary>
    private static ShadowReport RegressorReport(int labelled, double incumbentError, double candidateError, double spread, int seed)
    {
        var random = new Random(seed);
        double mine = 0, theirs = 0, squares = 0;
        for (var i = 0; i < labelled; i++)
        {
            var e = incumbentError * (0.5 + random.NextDouble());
            var c = candidateError * (0.5 + random.NextDouble()) + (spread * (random.NextDouble() - 0.5));
            (mine, theirs, squares) = (mine + e, theirs + c, squares + ((c - e) * (c - e)));
        }

        return new ShadowReport
        {
            RolloutId = "r", CandidateVersion = 2, Offered = (ulong)labelled, Scored = (ulong)labelled, Labelled = (ulong)labelled,
            IncumbentLatencyP95Ms = 1, CandidateLatencyP95Ms = 1, ValueDifferenceSum = labelled * 0.2, ValueDifferenceMax = 0.5,
            IncumbentSquaredErrorSum = mine, CandidateSquaredErrorSum = theirs, SquaredErrorDifferenceSquares = squares,
        };
    }

    [Fact]
    public void ARegressorsShadow_IsJudgedOnPairedSquaredErrors_NotOnAgreement()
    {
        var shadow = new ShadowRequest { MinScored = 100, MinAgreement = 0.9 }; // agreement counts classes: not applied to values

        // Same error level: passes on enough pairs (Agreed is 0 in every report, yet nothing fails on agreement).
        var same = ShadowGate.Judge(shadow, Gates, [RegressorReport(200, 0.35, 0.35, 0.05, 1), RegressorReport(200, 0.35, 0.34, 0.05, 2)], failed: 0, regressor: true);
        Assert.Equal("pass", same.Verdict.ToString());
        Assert.Equal(0.2, same.MeanValueDifference!.Value, 6);
        Assert.InRange(same.IncumbentMse!.Value, 0.3, 0.4);

        // Twice the error: confidently above the allowed 5 % increase.
        var worse = ShadowGate.Judge(shadow, Gates, [RegressorReport(200, 0.35, 0.7, 0.05, 3), RegressorReport(200, 0.35, 0.7, 0.05, 4)], failed: 0, regressor: true);
        Assert.StartsWith("fail: ground-truth MSE", worse.Verdict.ToString(), StringComparison.Ordinal);
        Assert.True(worse.CandidateMse > 1.8 * worse.IncumbentMse);

        // A little worse with a wide spread on few pairs: wait for more.
        var unsure = ShadowGate.Judge(shadow with { MinScored = 10 }, Gates with { MinFeedback = 20 }, [RegressorReport(30, 0.35, 0.38, 2.0, 5)], failed: 0, regressor: true);
        Assert.StartsWith("wait: MSE difference", unsure.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ThePairedSquaredErrorTest_FollowsItsArithmetic()
    {
        // d = +0.01 on every one of 100 pairs (no spread): the interval is the point; allowed 5 % of 0.35 = 0.0175.
        var within = ShadowGate.JudgeSquaredError(35, 36, 100 * 0.01 * 0.01, 100, 0.05, 0.95);
        Assert.Equal((AccuracyVerdict.Pass, 0.01), (within.Verdict, Math.Round(within.Mean, 10)));
        var beyond = ShadowGate.JudgeSquaredError(35, 38, 100 * 0.03 * 0.03, 100, 0.05, 0.95);
        Assert.Equal(AccuracyVerdict.Fail, beyond.Verdict);
        Assert.Equal(AccuracyVerdict.Inconclusive, ShadowGate.JudgeSquaredError(35, 36, 1, 1, 0.05, 0.95).Verdict); // one pair: no spread known
    }
}
