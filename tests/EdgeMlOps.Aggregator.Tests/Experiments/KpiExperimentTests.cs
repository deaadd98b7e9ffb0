using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>A/B tests and the bandit on a share KPI (requests answered with a class) instead of ground-truth accuracy.</summary>
public class KpiExperimentTests
{
    /// <summary>Both arms equally accurate; arm B answers class 1 on <paramref name="shareB"/> of its requests, arm A on 30%.</summary>
    private static ExperimentReport[] Fleet(double shareB, int devices = 20, ulong served = 400)
    {
        ArmCounts Arm(ulong version, double share)
        {
            var ones = (ulong)Math.Round(served * share);
            var arm = new ArmCounts { Version = version, Served = served, Labelled = served / 2, Correct = served * 2 / 5, LatencyP95Ms = 1 };
            arm.Predicted.Add(served - ones);
            arm.Predicted.Add(ones);
            return arm;
        }

        return Enumerable.Range(0, devices).Select(_ => new ExperimentReport { RolloutId = "r", A = Arm(1, 0.30), B = Arm(2, shareB) }).ToArray();
    }

    private static ExperimentRequest Test(string metric, bool higherIsBetter = true, ExperimentMode mode = ExperimentMode.Sequential) => new()
    {
        Metric = metric,
        HigherIsBetter = higherIsBetter,
        Design = new ExperimentDesign { Mode = mode, BaselineRate = 0.3, MinDetectableEffect = 0.05 },
    };

    [Fact]
    public void AShareKpi_DecidesWhereAccuracySeesNoDifference_AndItsDirectionCounts()
    {
        var reports = Fleet(shareB: 0.40);
        Assert.StartsWith("pass: A/B test (Sequential): no significant difference", ExperimentGate.Judge(Test("accuracy"), reports).Verdict.ToString(), StringComparison.Ordinal);

        var higher = ExperimentGate.Judge(Test("share:1"), reports);
        Assert.StartsWith("pass: A/B test (Sequential): the version is higher on share of class 1", higher.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal("share:1", higher.Metric);
        Assert.Equal(8000, higher.Reading.LabelledB); // trials are requests served, not labels

        var lower = ExperimentGate.Judge(Test("share:1", higherIsBetter: false), reports);
        Assert.StartsWith("fail: A/B test (Sequential): the version is higher on share of class 1", lower.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Contains("share of class 1 0.4000 (B, 8000 served) against 0.3000", lower.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheBandit_MovesTowardTheArmBetterOnTheKpi()
    {
        var bandit = Test("share:1", mode: ExperimentMode.Bandit);
        bandit.Bandit = new BanditPolicy { LabelsPerStep = 100, MaxStep = 0.2 };
        var view = ExperimentGate.Judge(bandit, Fleet(shareB: 0.32, devices: 5, served: 200), split: 0.5);
        Assert.StartsWith("wait: bandit: P(B better)", view.Verdict.ToString(), StringComparison.Ordinal);
        Assert.True(view.ProbabilityBBetter > 0.6, $"P(B better) {view.ProbabilityBBetter}");
        Assert.True(view.NextSplit > 0.5, $"next split {view.NextSplit}");

        bandit.HigherIsBetter = false; // the same counts, the other direction: the bandit moves away from B
        Assert.True(ExperimentGate.Judge(bandit, Fleet(shareB: 0.32, devices: 5, served: 200), split: 0.5).NextSplit < 0.5);
    }

    [Fact]
    public void UnknownMetrics_AreRefused_AndImpossibleClassCountsAreNotPlausible()
    {
        Assert.Throws<ArgumentException>(() => Test("revenue").Validate());
        Assert.Throws<ArgumentException>(() => Test("share:999").Validate());
        Test("share:3").Validate();

        var report = Fleet(0.4, devices: 1)[0];
        Assert.True(ReportBounds.IsPlausible(report));
        report.B.Predicted[1] = report.B.Served + 1; // more class-1 answers than answers
        Assert.False(ReportBounds.IsPlausible(report));
    }

    [Fact]
    public void ADeviceClaimingHugeCounts_IsScaledDown_ClassCountsIncluded()
    {
        var reports = Fleet(0.28, devices: 30).ToList(); // honest devices: B slightly lower on the KPI
        var forged = Fleet(0.95, devices: 1, served: 1_000_000)[0];
        reports.Add(forged);
        var view = ExperimentGate.Judge(Test("share:1"), reports);
        Assert.DoesNotContain("the version is higher", view.Verdict.ToString(), StringComparison.Ordinal); // one device does not make B win
        var bounded = DeviceInfluence.Bound(reports)[^1];
        Assert.True(bounded.B.Predicted.Aggregate(0UL, (s, c) => s + c) <= bounded.B.Served);
    }
}
