using EdgeMlOps.Agent.Experiments;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Rollouts;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Tests.Experiments;

/// <summary>An A/B test on the device alone: the split, the arms' counts, and the target's session lifetime.</summary>
public sealed class ExperimentSessionTests
{
    private static readonly ModelSpec Spec = new(4, [3], 2);
    private readonly SharedCache<InferenceModel> _cache = new();

    private Task<SharedCache<InferenceModel>.Lease> TargetAsync() =>
        _cache.AcquireAsync("target", () => Task.FromResult(InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(Spec, 2)).ToByteArray())));

    [Fact]
    public void TheSplit_SendsItsShareOfRequestsToB_StablyPerRequestId()
    {
        var ids = Enumerable.Range(0, 20_000).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
        var toB = ids.Count(id => RolloutMembership.ToArmB("r1", id, 0.3));
        Assert.InRange(toB, 5700, 6300); // 30% ± 6.5 standard deviations
        Assert.All(ids.Take(100), id => Assert.Equal(RolloutMembership.ToArmB("r1", id, 0.3), RolloutMembership.ToArmB("r1", id, 0.3)));
        Assert.NotEqual(ids.Select(id => RolloutMembership.ToArmB("r1", id, 0.5)), ids.Select(id => RolloutMembership.ToArmB("r2", id, 0.5))); // independent across rollouts
    }

    [Fact]
    public async Task RandomisedByDevice_EveryRequestOfADeviceGoesToOneArm_AndTheDevicesSplitByTheShare()
    {
        var ids = Enumerable.Range(0, 200).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
        var inB = 0;
        for (var d = 0; d < 400; d++)
        {
            var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.3, await TargetAsync(), randomisedDevice: $"dev-{d}");
            var arms = ids.Select(session.ToB).Distinct().ToArray();
            Assert.Single(arms); // one arm for every request of this device
            if (arms[0]) inB++;
            Assert.Equal(RolloutMembership.DeviceInArmB("r1", $"dev-{d}", 0.3), arms[0]); // the aggregator computes the same
            session.Exit();
        }

        Assert.InRange(inB, 90, 150); // 30% of 400 ± 3.7 standard deviations
    }

    [Fact]
    public async Task OutcomesAreCountedByTheVersionThatAnswered()
    {
        var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.5, await TargetAsync());
        session.Answered("a1", byB: false, TimeSpan.FromMilliseconds(1), predicted: 0);
        session.Answered("b1", byB: true, TimeSpan.FromMilliseconds(2), predicted: 1);
        session.Answered("b2", byB: true, TimeSpan.FromMilliseconds(2), predicted: 1);
        session.Answered("b3", byB: true, TimeSpan.FromMilliseconds(2), predicted: 300); // beyond the counted classes: served, not counted by class
        session.Outcome("a1", truth: 0, predicted: 0);
        session.Outcome("b1", truth: 0, predicted: 1);
        session.Outcome("b2", truth: 1, predicted: 1);
        session.Outcome("b3", truth: 40, predicted: 1); // a class beyond the confusion layout: labelled, in no cell
        session.Outcome("zz", truth: 1, predicted: 1); // not answered in this test: ignored
        session.Outcome("b1", truth: 1, predicted: 1); // labelled twice: counted once
        var report = session.Report();
        Assert.Equal((4UL, 1UL, 1UL, 1UL), (report.A.Version, report.A.Served, report.A.Labelled, report.A.Correct));
        Assert.Equal((5UL, 3UL, 3UL, 1UL), (report.B.Version, report.B.Served, report.B.Labelled, report.B.Correct));
        Assert.Equal([1UL], report.A.Predicted); // answers per class: the share KPIs an A/B test can judge
        Assert.Equal([0UL, 2UL], report.B.Predicted);
        Assert.Equal([1UL], report.A.Confusion); // truth × answer, row-major over 32 classes, trailing zeros left off: the cost KPIs
        var cells = new ulong[ArmConfusion.Width + 2];
        cells[1] = 1; // truth 0, answered 1
        cells[ArmConfusion.Width + 1] = 1; // truth 1, answered 1
        Assert.Equal(cells, report.B.Confusion);
        Assert.True(report.B.LatencyP95Ms > report.A.LatencyP95Ms);
        session.Exit();
    }

    [Fact]
    public async Task Counts_TakenWhileRequestsAreServed_NeverClaimMoreThanWasServed()
    {
        var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.5, await TargetAsync());
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
        {
            for (var i = 0L; !stop.IsCancellationRequested; i++)
            {
                var id = $"{w}-{i}";
                session.Answered(id, byB: true, TimeSpan.FromTicks(10), predicted: i % 3);
                session.Outcome(id, truth: (i + 1) % 3, predicted: i % 3);
            }
        })).ToArray();
        SpinWait.SpinUntil(() => session.Report().B.Served > 10_000, TimeSpan.FromSeconds(10)); // the writers are running
        var implausible = 0;
        var reports = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 500)
        {
            var b = session.Report().B;
            reports++;
            if (b.Predicted.Aggregate(0UL, (sum, c) => sum + c) > b.Served || b.Correct > b.Labelled || b.Confusion.Aggregate(0UL, (sum, c) => sum + c) > b.Labelled) implausible++;
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers);
        Assert.True(reports > 100, $"{reports} reports");
        Assert.Equal(0, implausible);
        session.Exit();
    }

    [Fact]
    public async Task EndingTheTest_WaitsForTheRequestsUsingTheTarget()
    {
        var arms = new ExperimentArms();
        var session = new ExperimentSession("r1", 4, 5, split: 0.999999, await TargetAsync());
        arms.Begin(session);
        var inUse = arms.ArmB(4, "any")!;
        var target = inUse.Enter();
        Assert.NotNull(target);
        Assert.Null(arms.ArmB(7, "any")); // served by another version: not in the test

        arms.End();
        Assert.Equal(1, _cache.Count); // a request still runs on it
        Assert.Equal(2, target.Predict(new float[4], 1).Probabilities.Length);
        inUse.Exit();
        Assert.Equal(0, _cache.Count);
        Assert.Null(inUse.Enter());
        Assert.Equal("r1", arms.Report()!.RolloutId); // the last report stays readable
    }

    [Fact]
    public async Task ANewSplit_ChangesWhereRequestsGo_WithoutReloading()
    {
        var arms = new ExperimentArms();
        arms.Begin(new ExperimentSession("r1", 4, 5, split: 0.5, await TargetAsync()));
        var ids = Enumerable.Range(0, 4000).Select(_ => Guid.NewGuid().ToString("N")).ToArray();
        Assert.InRange(ids.Count(id => arms.ArmB(4, id) is not null), 1800, 2200);
        arms.Resplit(0.05); // a bandit's step, from a newer plan revision
        Assert.InRange(ids.Count(id => arms.ArmB(4, id) is not null), 120, 280);
        Assert.Equal(1, _cache.Count);
        arms.End();
    }

    [Fact]
    public async Task ARegressorsTargets_AreCountedAsSquaredErrors_ByTheVersionThatAnswered()
    {
        var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.5, await TargetAsync());
        for (var i = 0; i < 3; i++) session.Answered($"a{i}", byB: false, TimeSpan.FromMilliseconds(1), predicted: -1);
        for (var i = 0; i < 2; i++) session.Answered($"b{i}", byB: true, TimeSpan.FromMilliseconds(1), predicted: -1);
        session.OutcomeError("a0", 0.5);
        session.OutcomeError("a1", 1.5);
        session.OutcomeError("b0", 4);
        session.OutcomeError("zz", 100); // not answered in this test: ignored
        var report = session.Report();
        Assert.Equal((2UL, 2.0, 2.5, 0UL), (report.A.Labelled, report.A.SquaredErrorSum, report.A.SquaredErrorSquares, report.A.Correct));
        Assert.Equal((1UL, 4.0, 16.0), (report.B.Labelled, report.B.SquaredErrorSum, report.B.SquaredErrorSquares));
        Assert.Empty(report.B.Predicted); // no classes answered
        session.Exit();
    }

    /// <summary>
    /// A device randomised into arm B answers every request with B, so its arm A serves nothing. A label arriving after the
    /// test began for a request the served version answered before it must not count in A: a report with more labels than
    /// requests is implausible and the aggregator drops it whole — B's counts with it — so enough such devices kept a
    /// fixed-horizon test from ever reaching its horizon (a CI run timed out on it).
    /// </summary>
    [Fact]
    public async Task ALabelForARequestAnsweredBeforeTheTestBegan_CountsInNeitherArm()
    {
        var device = Enumerable.Range(0, 100).Select(d => $"dev-{d}").First(d => RolloutMembership.DeviceInArmB("r1", d, 0.5));
        var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.5, await TargetAsync(), randomisedDevice: device);
        Assert.True(session.ToB("any request"));
        session.Answered("during", byB: true, TimeSpan.FromMilliseconds(1), predicted: 1);
        session.Outcome("before", truth: 1, predicted: 1); // served by v4 before the test: not the test's
        session.OutcomeError("before-too", 0.25);
        session.Outcome("during", truth: 1, predicted: 1);
        var report = session.Report();
        Assert.Equal((0UL, 0UL), (report.A.Served, report.A.Labelled));
        Assert.Equal((1UL, 1UL, 1UL), (report.B.Served, report.B.Labelled, report.B.Correct));
        session.Exit();
    }

    [Fact]
    public async Task TheRequestsAwaitingLabels_AreBounded_OldestForgottenFirst()
    {
        var session = new ExperimentSession("r1", versionA: 4, versionB: 5, split: 0.5, await TargetAsync());
        for (var i = 0; i < ExperimentSession.MaxAwaitingLabels + 10; i++) session.Answered($"r{i}", byB: false, TimeSpan.FromTicks(1), predicted: 0);
        session.Outcome("r0", truth: 0, predicted: 0); // forgotten: among the ten oldest
        session.Outcome($"r{ExperimentSession.MaxAwaitingLabels + 9}", truth: 0, predicted: 0);
        Assert.Equal(1UL, session.Report().A.Labelled);
        session.Exit();
    }
}
