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
            var correct = (ulong)Enumerable.Range(0, labels).Count(_ => random.NextDouble() < accuracy);
            var arm = new ArmCounts { Served = (ulong)labels, Labelled = (ulong)labels, Correct = correct, LatencyP95Ms = 1 };
            var inB = RolloutMembership.DeviceInArmB(rollout, $"dev-{d}", 0.5);
            reports.Add(new ExperimentReport
            {
                RolloutId = rollout,
                A = inB ? new ArmCounts { Version = 1 } : new ArmCounts(arm) { Version = 1 },
                B = inB ? new ArmCounts(arm) { Version = 2 } : new ArmCounts { Version = 2 },
            });
        }

        return reports;
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

    [Fact]
    public void AWorseVersion_IsStillFound_WhenDevicesAreRandomised()
    {
        var reports = AaFleet(seed: 3, devices: 60);
        foreach (var r in reports.Where(r => r.B.Labelled > 0)) r.B.Correct = r.B.Correct * 3 / 4; // 25% of B's right answers lost
        var view = ExperimentGate.Judge(Test(RandomisationUnit.Device), reports);
        Assert.StartsWith("fail: A/B test (FixedHorizon): the version is less accurate", view.Verdict, StringComparison.Ordinal);
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
