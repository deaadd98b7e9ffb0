using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Experiments;

/// <summary>
/// A/B tests randomised by device: each device answers every request with one arm, so its outcomes are one cluster,
/// and the test's variance must be the cluster-robust one — with devices that differ (as real devices do), the
/// request-level variance makes an A/A test "significant" most of the time.
/// </summary>
public sealed class DeviceRandomisationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static ExperimentRequest Test(RandomisationUnit unit) => new()
    {
        Unit = unit,
        Design = new ExperimentDesign { Mode = ExperimentMode.FixedHorizon, BaselineRate = 0.8, MinDetectableEffect = 0.05 },
    };

    /// <summary>
    /// One A/A experiment: 40 devices, each put in arm A or B by the stable hash, each with its own accuracy (uniform in
    /// [0.6, 0.95]: hardware, users and inputs differ), 200 labelled requests each, the same distribution in both arms.
    /// </summary>
    private static List<ExperimentReport> AaFleet(int seed, int devices = 40, int labels = 200)
    {
        var random = new Random(seed);
        var rollout = $"r{seed}";
        var reports = new List<ExperimentReport>();
        for (var d = 0; d < devices; d++)
        {
            var accuracy = 0.6 + 0.35 * random.NextDouble();
            reports.Add(DeviceReport(rollout, RolloutMembership.DeviceInArmB(rollout, $"dev-{d}", 0.5), labels, accuracy, random));
        }

        return reports;
    }

    /// <summary>One device's report: <paramref name="labels"/> labelled requests answered by its arm at <paramref name="accuracy"/>.</summary>
    private static ExperimentReport DeviceReport(string rollout, bool inB, int labels, double accuracy, Random random)
    {
        var correct = (ulong)Enumerable.Range(0, labels).Count(_ => random.NextDouble() < accuracy);
        var arm = new ArmCounts { Served = (ulong)labels, Labelled = (ulong)labels, Correct = correct, LatencyP95Ms = 1 };
        return new ExperimentReport
        {
            RolloutId = rollout,
            A = inB ? new ArmCounts { Version = 1 } : new ArmCounts(arm) { Version = 1 },
            B = inB ? new ArmCounts(arm) { Version = 2 } : new ArmCounts { Version = 2 },
        };
    }

    [Fact]
    public void AaTestsAcrossUnlikeDevices_KeepTheFalsePositiveRate_OnlyWithTheClusterRobustVariance()
    {
        const int seeds = 1000;
        int Significant(RandomisationUnit unit) => Enumerable.Range(0, seeds).Count(seed =>
            ExperimentGate.Judge(Test(unit), AaFleet(seed)).Reading.Verdict is ExperimentVerdict.BBetter or ExperimentVerdict.BWorse);
        var naive = Significant(RandomisationUnit.Request) / (double)seeds;
        var robust = Significant(RandomisationUnit.Device) / (double)seeds;
        output.WriteLine($"A/A over {seeds} fleets of 40 unlike devices randomised by device: request-level variance {naive:P1} significant, cluster-robust {robust:P1}");
        Assert.True(naive > 0.3, $"the request-level variance ignores the devices' differences: {naive:P1}");
        Assert.True(robust <= 0.06, $"cluster-robust false-positive rate {robust:P1} (read against t with the smaller arm's devices − 1 degrees of freedom)");
    }

    /// <summary>
    /// A fleet just large enough for each arm to reach the horizon: devices (accuracy uniform in [0.6, 0.95], 200 labels
    /// each) join in id order, in the arm the stable hash gives them, until both arms hold <paramref name="horizon"/>
    /// labels; arm B's devices are <paramref name="effect"/> less accurate.
    /// </summary>
    private static List<ExperimentReport> FleetAtTheHorizon(int seed, long horizon, double effect, int labels = 200)
    {
        var random = new Random(seed);
        var rollout = $"p{seed}";
        var reports = new List<ExperimentReport>();
        long inA = 0, inB = 0;
        for (var d = 0; inA < horizon || inB < horizon; d++)
        {
            var b = RolloutMembership.DeviceInArmB(rollout, $"dev-{d}", 0.5);
            var accuracy = 0.6 + 0.35 * random.NextDouble() - (b ? effect : 0);
            if ((b ? inB : inA) >= horizon) continue;
            if (b) inB += labels;
            else inA += labels;
            reports.Add(DeviceReport(rollout, b, labels, accuracy, random));
        }

        return reports;
    }

    [Fact]
    public void TheDesignEffect_GivesADeviceRandomisedFixedHorizonTheDesignedPower()
    {
        // Devices' accuracies uniform in [0.6, 0.95]: between-device variance 0.35²/12, total 0.775 · 0.225, so ρ ≈ 0.0585;
        // 200 labels per device make the design effect 1 + 199ρ ≈ 12.6.
        const double rho = 0.35 * 0.35 / 12 / (0.775 * 0.225);
        var plain = new ExperimentRequest { Unit = RandomisationUnit.Device, Design = new ExperimentDesign { Mode = ExperimentMode.FixedHorizon, BaselineRate = 0.775, MinDetectableEffect = 0.05 } };
        var clustered = plain with { Design = plain.Design with { ClusterCorrelation = rho, LabelsPerDevice = 200 } };
        plain.Validate();
        clustered.Validate();
        Assert.Equal(1 + 199 * rho, clustered.Design.DesignEffect, 12);
        // n·DEFF, with n unrounded (the plain size is rounded up once, so the two differ by less than DEFF).
        Assert.InRange(plain.Design.SampleSizePerArm() * clustered.Design.DesignEffect - clustered.Design.SampleSizePerArm(), 0, clustered.Design.DesignEffect);

        const int seeds = 400;
        double Rate(ExperimentRequest test, double effect) => Enumerable.Range(0, seeds).Count(seed =>
            ExperimentGate.Judge(test, FleetAtTheHorizon(seed, test.Design.SampleSizePerArm(), effect)).Reading.Verdict == ExperimentVerdict.BWorse) / (double)seeds;
        var (powerPlain, powerClustered, falseAlarms) = (Rate(plain, 0.05), Rate(clustered, 0.05), Rate(clustered, 0));
        output.WriteLine($"fixed horizon by device, B 0.05 less accurate, {seeds} fleets: without the design effect ({plain.Design.SampleSizePerArm()} labels per arm) power {powerPlain:P1}; with it ({clustered.Design.SampleSizePerArm()}) {powerClustered:P1}; A/A 'worse' {falseAlarms:P1}");
        Assert.True(powerPlain < 0.5, $"counting labels as independent, the horizon comes with a handful of devices: power {powerPlain:P1}");
        Assert.InRange(powerClustered, 0.72, 0.92);
        Assert.True(falseAlarms <= 0.04, $"one-sided false alarms {falseAlarms:P1} (α/2 = 2.5%)");
    }

    [Fact]
    public void ADesignEffect_IsRefusedForARequestRandomisedTest_AndNeedsBothFigures()
    {
        var request = new ExperimentRequest { Unit = RandomisationUnit.Request, Design = new ExperimentDesign { ClusterCorrelation = 0.05, LabelsPerDevice = 200 } };
        Assert.Contains("randomised by device", Assert.Throws<ArgumentException>(request.Validate).Message, StringComparison.Ordinal);
        var half = new ExperimentRequest { Unit = RandomisationUnit.Device, Design = new ExperimentDesign { ClusterCorrelation = 0.05 } };
        Assert.Contains("needs both", Assert.Throws<ArgumentException>(half.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWorseVersion_IsStillFound_WhenDevicesAreRandomised()
    {
        var reports = AaFleet(seed: 3, devices: 60);
        foreach (var r in reports.Where(r => r.B.Labelled > 0)) r.B.Correct = r.B.Correct * 3 / 4; // 25% of B's right answers lost
        var view = ExperimentGate.Judge(Test(RandomisationUnit.Device), reports);
        Assert.StartsWith("fail: A/B test (FixedHorizon): the version is less accurate", view.Verdict.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TheClusterRobustVariance_IsTheRatioEstimatorsSandwich()
    {
        // Three devices: (N, S) = (10, 8), (20, 10), (30, 27); m = 45/60 = 0.75; Σ(S − mN)² = 0.25 + 25 + 20.25 = 45.5;
        // variance = 3/2 · 45.5 / 60² = 0.018958…
        var arm = new[] { (10L, 8L), (20L, 10L), (30L, 27L) }.Aggregate(default(ArmSample), (sum, d) => sum + ArmSample.Cluster(ArmSample.Proportion(d.Item2, d.Item1)));
        Assert.Equal(0.75, arm.Mean!.Value, 12);
        Assert.Equal(1.5 * 45.5 / 3600, arm.VarianceOfMean, 12);
        Assert.Equal(0, ArmSample.Cluster(ArmSample.Proportion(8, 10)).VarianceOfMean); // one device: no estimate, the test waits
    }

    [Fact]
    public void Latency_IsComparedAcrossArms_ByTheMedianDevice_WhenNoDeviceRunsBoth()
    {
        var reports = AaFleet(seed: 5);
        var test = Test(RandomisationUnit.Device);
        Assert.Null(ExperimentGate.SlowerOnMostDevices(test, reports));
        foreach (var r in reports.Where(r => r.B.Served > 0)) r.B.LatencyP95Ms = 4; // 4× and 3 ms slower on every B device
        Assert.Contains("median p95 latency of the", ExperimentGate.SlowerOnMostDevices(test, reports), StringComparison.Ordinal);
        Assert.Null(ExperimentGate.SlowerOnMostDevices(test, reports.Take(6).ToList())); // too few devices per arm to compare
    }
}
