using EdgeMlOps.Aggregator.Experiments;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>One enrolled but compromised device with plausible, huge counts cannot decide a shadow or A/B gate alone.</summary>
public sealed class DeviceInfluenceTests
{
    private static readonly RolloutGates Gates = new() { MinFeedback = 50, MaxAccuracyDrop = 0.02, AccuracyConfidence = 0.95, MaxFailureRate = 0.05 };

    private static ShadowReport Shadow(ulong labelled, ulong onlyIncumbent, ulong onlyCandidate) => new()
    {
        RolloutId = "r",
        CandidateVersion = 2,
        Offered = labelled,
        Scored = labelled,
        Agreed = labelled - onlyIncumbent - onlyCandidate,
        Labelled = labelled,
        IncumbentCorrect = labelled - onlyCandidate,
        CandidateCorrect = labelled - onlyIncumbent,
        OnlyIncumbentCorrect = onlyIncumbent,
        OnlyCandidateCorrect = onlyCandidate,
        IncumbentLatencyP95Ms = 1,
        CandidateLatencyP95Ms = 1,
    };

    [Fact]
    public void AForgedShadowReport_IsWeighedAsOneDevice_AndTheWorseCandidateStillFails()
    {
        // 20 honest devices: the candidate is right alone on 2 of 100 paired requests, the incumbent alone on 12.
        var honest = Enumerable.Range(0, 20).Select(_ => Shadow(100, onlyIncumbent: 12, onlyCandidate: 2)).ToList();
        Assert.StartsWith("fail", ShadowGate.Judge(new ShadowRequest(), Gates, honest, failed: 0).Verdict.ToString(), StringComparison.Ordinal);

        // One device claims 100,000 requests on which only the candidate was right.
        var forged = Shadow(100_000, onlyIncumbent: 0, onlyCandidate: 100_000);
        var reading = ShadowGate.Judge(new ShadowRequest(), Gates, [.. honest, forged], failed: 0);
        Assert.StartsWith("fail", reading.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal(20 * 100 + 100, reading.Labelled); // the forged device counts as one median device
    }

    [Fact]
    public void AForgedExperimentReport_CannotMakeTheWorseVersionWin()
    {
        static ExperimentReport Device(ulong labelled, ulong correctA, ulong correctB) => new()
        {
            RolloutId = "r",
            A = new ArmCounts { Version = 1, Served = labelled, Labelled = labelled, Correct = correctA, LatencyP95Ms = 1 },
            B = new ArmCounts { Version = 2, Served = labelled, Labelled = labelled, Correct = correctB, LatencyP95Ms = 1 },
        };
        var experiment = new ExperimentRequest { Design = new ExperimentDesign { Mode = ExperimentMode.FixedHorizon, BaselineRate = 0.8, MinDetectableEffect = 0.05 } };
        var honest = Enumerable.Range(0, 30).Select(_ => Device(100, correctA: 85, correctB: 75)).ToList();
        var forged = Device(1_000_000, correctA: 0, correctB: 1_000_000);
        var view = ExperimentGate.Judge(experiment, [.. honest, forged]);
        Assert.DoesNotContain("more accurate", view.Verdict.ToString(), StringComparison.Ordinal);
        Assert.Equal(30 * 100 + 100, view.Reading.LabelledB);
    }

    [Fact]
    public void Scales_LeaveOrdinaryDevicesAlone_AndNeverCapBelowTheFloor()
    {
        Assert.Equal([1.0, 1.0, 1.0], DeviceInfluence.Scales([10, 30, 90]));          // under the floor of 100
        Assert.Equal([1.0, 1.0, 0.5], DeviceInfluence.Scales([200, 200, 400]));       // capped at the median, 200
        Assert.Equal([1.0, 1.0], DeviceInfluence.Scales([0, 0]));
    }
}
