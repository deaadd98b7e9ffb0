using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>The bandit option: Thompson allocation alone, then whole simulated bandits through the A/B gate (allocation, regret, decision).</summary>
public sealed class BanditTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void ProbabilityBBetter_IsAHalfForEqualEvidence_AndNearCertainForAClearWinner()
    {
        Assert.Equal(0.5, ThompsonAllocation.ProbabilityBBetter(80, 100, 80, 100), 9);
        Assert.True(ThompsonAllocation.ProbabilityBBetter(800, 1000, 900, 1000) > 0.999);
        Assert.True(ThompsonAllocation.ProbabilityBBetter(900, 1000, 800, 1000) < 0.001);
        Assert.InRange(ThompsonAllocation.ProbabilityBBetter(8, 10, 9, 10), 0.6, 0.9); // little evidence: leaning, not sure
    }

    [Fact]
    public void TheSplit_MovesTowardTheProbability_ByAtMostAStep_WithinItsBounds()
    {
        var policy = new BanditPolicy { MinSplit = 0.05, MaxSplit = 0.95, MaxStep = 0.1 };
        Assert.Equal(0.6, ThompsonAllocation.NextSplit(0.5, 0.99, policy), 9);
        Assert.Equal(0.45, ThompsonAllocation.NextSplit(0.5, 0.45, policy), 9);
        Assert.Equal(0.05, ThompsonAllocation.NextSplit(0.1, 0.0, policy), 9);
        Assert.Equal(0.95, ThompsonAllocation.NextSplit(0.9, 1.0, policy), 9);
    }

    /// <summary>A bandit over simulated requests: every 100 labels the gate reads both arms and the split moves.</summary>
    private static (string Verdict, List<AllocationPoint> Points, long Labels) Simulate(double rateA, double rateB, int seed)
    {
        var experiment = new ExperimentRequest { Split = 0.5, Design = new ExperimentDesign { Mode = ExperimentMode.Bandit, BaselineRate = 0.8, MinDetectableEffect = 0.05 } };
        var random = new Random(seed);
        long correctA = 0, labelledA = 0, correctB = 0, labelledB = 0;
        var split = experiment.Split;
        var points = new List<AllocationPoint>();
        while (true)
        {
            for (var i = 0; i < 25; i++)
            {
                if (random.NextDouble() < split) { labelledB++; if (random.NextDouble() < rateB) correctB++; }
                else { labelledA++; if (random.NextDouble() < rateA) correctA++; }
            }

            var report = new ExperimentReport
            {
                RolloutId = "r",
                A = new ArmCounts { Version = 1, Served = (ulong)labelledA, Labelled = (ulong)labelledA, Correct = (ulong)correctA },
                B = new ArmCounts { Version = 2, Served = (ulong)labelledB, Labelled = (ulong)labelledB, Correct = (ulong)correctB },
            };
            var view = ExperimentGate.Judge(experiment, [report], split, points.LastOrDefault());
            if (!view.Verdict.ToString().StartsWith("wait", StringComparison.Ordinal) || view.Verdict.ToString().Contains("no clear winner", StringComparison.Ordinal)) return (view.Verdict.ToString(), points, labelledA + labelledB);
            if (view.NextSplit is { } next)
            {
                points.Add(new AllocationPoint(DateTimeOffset.UnixEpoch, next, labelledA, labelledB, null, null, view.ProbabilityBBetter!.Value,
                    ThompsonAllocation.RegretSince(points.LastOrDefault(), correctA, labelledA, correctB, labelledB)));
                split = next;
            }
        }
    }

    [Fact]
    public void AWorseVersion_LosesTraffic_AndIsStopped_WithLessRegretThanAnEvenSplit()
    {
        var runs = Enumerable.Range(0, 200).Select(seed => Simulate(0.8, 0.7, seed)).ToArray();
        Assert.True(runs.Count(r => r.Verdict.StartsWith("fail: bandit: the version is less accurate", StringComparison.Ordinal)) >= 190, string.Join("; ", runs.Select(r => r.Verdict).Distinct().Take(3)));
        Assert.DoesNotContain(runs, r => r.Verdict.StartsWith("pass", StringComparison.Ordinal)); // a 10-point-worse version is never promoted
        var example = runs[0];
        output.WriteLine("worse version, seed 0: " + string.Join(" → ", example.Points.Select(p => FormattableString.Invariant($"{p.Split:P0}"))) + $" then {example.Verdict}");
        Assert.True(example.Points.Count == 0 || example.Points[^1].Split < 0.5, "the split moved away from the worse version");

        // Regret: labels sent to the worse arm times the 10-point gap. An even split sends half of them.
        var banditRegret = runs.Average(r => r.Points.LastOrDefault()?.Regret ?? 0);
        var evenRegret = runs.Average(r => (r.Points.LastOrDefault() is { } p ? p.LabelledA + p.LabelledB : 0) * 0.5 * 0.1);
        output.WriteLine(FormattableString.Invariant($"mean regret at the last rebalance: bandit {banditRegret:F1}, even split {evenRegret:F1} (labels × gap)"));
        Assert.True(banditRegret < evenRegret, $"bandit regret {banditRegret:F1} against {evenRegret:F1} for an even split");
    }

    [Fact]
    public void ABetterVersion_GainsTraffic_AndIsPromoted()
    {
        var runs = Enumerable.Range(0, 200).Select(seed => Simulate(0.75, 0.85, seed)).ToArray();
        Assert.True(runs.Count(r => r.Verdict.StartsWith("pass: bandit: the version is more accurate", StringComparison.Ordinal)) >= 190);
        var withSteps = runs.Where(r => r.Points.Count > 0).ToArray();
        var towardB = withSteps.Count(r => r.Points[^1].Split > 0.5) / (double)withSteps.Length;
        Assert.True(towardB > 0.8, $"{towardB:P0} of bandits ended with more traffic on the better version");
        output.WriteLine("better version, seed 0: " + string.Join(" → ", runs[0].Points.Select(p => FormattableString.Invariant($"{p.Split:P0}"))) + $" then {runs[0].Verdict}; median labels {runs.Select(r => r.Labels).Order().ElementAt(100)}");
    }

    [Fact]
    public void EqualVersions_AreDecidedEitherWaySometimes_ItIsNotAnErrorControlledTest()
    {
        // Bayesian decisions at P = 0.99, read every 25 labels: on equal versions the bandit picks a side in a share of
        // runs (harmless: they are equal), which is why the sequential test is the one for a false-positive guarantee.
        var runs = Enumerable.Range(0, 200).Select(seed => Simulate(0.8, 0.8, seed)).ToArray();
        var decided = runs.Count(r => !r.Verdict.Contains("no clear winner", StringComparison.Ordinal)) / 200.0;
        output.WriteLine(FormattableString.Invariant($"A/A bandits that picked a side: {decided:P1}"));
        Assert.True(decided > 0.05, $"{decided:P1}");
    }

    [Fact]
    public void TheGuardrailFloor_StopsAVersionBelowIt_EvenWhenItIsNotWorseThanA()
    {
        var experiment = new ExperimentRequest { Design = new ExperimentDesign { Mode = ExperimentMode.Bandit }, Bandit = new BanditPolicy { GuardrailFloor = 0.7 } };
        var report = new ExperimentReport
        {
            RolloutId = "r",
            A = new ArmCounts { Version = 1, Served = 400, Labelled = 400, Correct = 240 },
            B = new ArmCounts { Version = 2, Served = 400, Labelled = 400, Correct = 244 },
        };
        Assert.StartsWith("fail: bandit: the version is below its guardrail floor of 0.70", ExperimentGate.Judge(experiment, [report], 0.5).Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheSignTest_IsTheBinomialTail()
    {
        Assert.Equal(1.0, SignTest.UpperTail(0, 10), 12);
        Assert.Equal(1.0 / 1024, SignTest.UpperTail(10, 10), 12);
        Assert.Equal(56.0 / 1024, SignTest.UpperTail(8, 10), 12); // C(10,8)+C(10,9)+C(10,10) = 45+10+1
        Assert.Equal(0.5, SignTest.UpperTail(1001, 2001), 9);
        Assert.True(SignTest.UpperTail(600, 1000) < 1e-9);
    }

    [Fact]
    public void TheAlwaysValidSignTest_IsTheMixtureLikelihoodRatio()
    {
        // 1/Λ with Λ = Σ_{j≤k} C(n+1, j) / ((n+1)·C(n, k)), worked out by hand for small n.
        Assert.Equal(11.0 / 2047, SignTest.AlwaysValid(10, 10), 12);
        Assert.Equal(110.0 / 2036, SignTest.AlwaysValid(9, 10), 12); // 2^11 − C(11,10) − C(11,11) = 2036
        Assert.Equal(1.0, SignTest.AlwaysValid(3, 20));
        Assert.Equal(1.0, SignTest.AlwaysValid(0, 0));
        Assert.InRange(SignTest.AlwaysValid(17, 20), 0.0114, 0.0115);
        Assert.True(SignTest.AlwaysValid(700, 1000) < 1e-20, "large n in log space");
    }

    [Theory]
    [InlineData(1, 74, 1.0)] // what aborted the rollout scenario's A/B test with p = 2.07E-05: one slower device of 74
    [InlineData(2, 200, 1.0)]
    [InlineData(10, 74, 1.0)]
    [InlineData(30, 74, 1.0)]
    [InlineData(50, 74, 0.0348427631473295)]
    [InlineData(60, 74, 9.052715168317413e-07)]
    [InlineData(700, 1000, 2.535527134364855e-35)]
    public void TheAlwaysValidSignTest_MatchesExactArithmetic_ForFewAndManySlowerDevices(int slower, int devices, double expected)
    {
        // Python, exact integers: min(1, (n+1)·C(n,k) / Σ_{j≤k} C(n+1,j)).
        Assert.Equal(expected, SignTest.AlwaysValid(slower, devices), expected * 1e-9);
    }

    [Fact]
    public void ReadAtEveryLook_TheAlwaysValidSignTestKeepsItsLevel_TheFixedOneDoesNot_AndBothFindARealSlowdown()
    {
        // H0 at its boundary: each new device is slower with probability ½. The gate looks after every device, up to 100.
        var random = new Random(2026);
        double EverRejected(Func<int, int, double> test, double slowShare)
        {
            const int Trials = 2000;
            var rejected = 0;
            for (var t = 0; t < Trials; t++)
            {
                var slower = 0;
                for (var n = 1; n <= 100; n++)
                {
                    if (random.NextDouble() < slowShare) slower++;
                    if (test(slower, n) < 0.05)
                    {
                        rejected++;
                        break;
                    }
                }
            }

            return (double)rejected / Trials;
        }

        var peeking = EverRejected(SignTest.UpperTail, 0.5);
        var alwaysValid = EverRejected(SignTest.AlwaysValid, 0.5);
        Assert.True(peeking > 0.15, $"the fixed-n test read at every look rejected a fair coin in {peeking:P1} of trials");
        Assert.True(alwaysValid <= 0.06, $"the always-valid test rejected a fair coin in {alwaysValid:P1} of trials");
        Assert.True(EverRejected(SignTest.AlwaysValid, 0.85) > 0.95, "a version slower on 85% of devices is stopped within 100 devices");
    }

    /// <summary>One device's A/B report with equal accuracy in both arms and the given p95 latencies.</summary>
    private static ExperimentReport LatencyDevice(double a, double b) => new()
    {
        RolloutId = "r",
        A = new ArmCounts { Version = 1, Served = 50, Labelled = 50, Correct = 40, LatencyP95Ms = a },
        B = new ArmCounts { Version = 2, Served = 50, Labelled = 50, Correct = 40, LatencyP95Ms = b },
    };

    [Fact]
    public void AVersionSlowerOnMostDevices_StopsTheTest_AFewSlowDevicesDoNot()
    {
        var experiment = new ExperimentRequest { MaxLatencyP95Ratio = 2.0 };
        var slowFleet = Enumerable.Range(0, 20).Select(i => LatencyDevice(1, i < 17 ? 3 : 1)).ToArray();
        Assert.StartsWith("fail: the version's p95 latency is above 2.0× the served version's (and 1 ms above it) on 17 of 20 devices in the A/B test (always-valid sign test p = 0.0114", ExperimentGate.Judge(experiment, slowFleet).Verdict.ToString(), StringComparison.Ordinal);
        var fewSlow = Enumerable.Range(0, 20).Select(i => LatencyDevice(1, i < 3 ? 3 : 1.1)).ToArray();
        Assert.StartsWith("wait", ExperimentGate.Judge(experiment, fewSlow).Verdict.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("wait", ExperimentGate.Judge(experiment with { MaxLatencyP95Ratio = 0 }, slowFleet).Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ASubMillisecondGap_IsNotSlower_HoweverLargeItsRatio_UnlessTheFloorIsLowered()
    {
        // What a CI run of the rollout scenario measured: 0.108 ms against 0.045 ms on most devices (2.4×).
        var fastModels = Enumerable.Range(0, 40).Select(_ => LatencyDevice(0.045, 0.108)).ToArray();
        var experiment = new ExperimentRequest { MaxLatencyP95Ratio = 2.0 };
        Assert.DoesNotContain("latency", ExperimentGate.Judge(experiment, fastModels).Verdict.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("fail: the version's p95 latency", ExperimentGate.Judge(experiment with { MinLatencyIncreaseMs = 0 }, fastModels).Verdict.ToString(), StringComparison.Ordinal);

        // A model that takes milliseconds: 2.5 ms more at 2.25× is slower.
        var slowModels = Enumerable.Range(0, 40).Select(_ => LatencyDevice(2.0, 4.5)).ToArray();
        Assert.StartsWith("fail: the version's p95 latency", ExperimentGate.Judge(experiment, slowModels).Verdict.ToString(), StringComparison.Ordinal);
    }
}
