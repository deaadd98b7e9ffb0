using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>A rollout that devices would refuse is refused up front; one whose first stage reaches nobody says so.</summary>
public sealed class RolloutCreationTests : IAsyncLifetime
{
    private AggregatorNode _node = null!;

    public async Task InitializeAsync()
    {
        _node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions { Mode = DeploymentMode.Governed },
        });
        await _node.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    [Fact]
    public async Task TheDeployedVersionOrAnOlderOne_IsRefused_BecauseDevicesRefuseDowngrades()
    {
        _node.Governance.Approve("alice", "tiny", 1, "first");
        var first = await _node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Reason = "first" }, CancellationToken.None);
        await _node.Rollouts.AdvanceAsync("bob", first.Id, "done", CancellationToken.None);
        Assert.Equal(1UL, _node.DeployedVersion!.Version);

        var again = await Assert.ThrowsAsync<GovernanceException>(() => _node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Reason = "again" }, CancellationToken.None));
        Assert.Contains("not newer than the deployed v1", again.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An exponential rate whose stages would never end (a start near zero, a factor near one: it once looped and
    /// allocated until memory ran out) or a list of more stages than a rollout may have is refused, saying how many.
    /// </summary>
    [Theory]
    [InlineData(1e-6, 1.0001, "makes 138,164 stages")]
    [InlineData(1e-300, 1.0000001, "stages")]
    public void ARateOfMoreStagesThanARolloutMayHave_IsRefused_SayingHowMany(double start, double factor, string stages)
    {
        var refused = Assert.Throws<ArgumentException>(() => new RolloutRequest { Exponential = new ExponentialRate(start, factor) }.ResolveStages());
        Assert.Contains(stages, refused.Message, StringComparison.Ordinal);
        Assert.Contains($"at most {RolloutRequest.MaxStages}", refused.Message, StringComparison.Ordinal);
        Assert.Equal(11, new RolloutRequest { Exponential = new ExponentialRate(0.001, 2) }.ResolveStages().Length); // 0.1 % doubling: 10 stages, then 100 %

        var many = Enumerable.Range(1, RolloutRequest.MaxStages + 1).Select(i => i / (double)(RolloutRequest.MaxStages + 1)).ToArray();
        Assert.Contains("101 stages", Assert.Throws<ArgumentException>(() => new RolloutRequest { Stages = many }.ResolveStages()).Message, StringComparison.Ordinal);
        Assert.Equal(RolloutRequest.MaxStages, new RolloutRequest { Stages = many[1..] }.ResolveStages().Length);
    }

    /// <summary>
    /// Gate and health limits that are no numbers in their ranges are refused when the rollout is created: a NaN limit
    /// passes every stage and never fails a version on a device, and a negative window wrapped into 136 years in the
    /// signed plan (which devices now refuse, <c>TrustVerifierTests</c>).
    /// </summary>
    [Theory]
    [InlineData("maxFailureRate NaN", "gates: maxFailureRate (NaN)")]
    [InlineData("maxAccuracyDrop 2", "are shares in [0, 1]")]
    [InlineData("window -1", "health: windowSeconds and minPredictions must not be negative")]
    [InlineData("window 30 days", "health window of 2592000 s is past the 604800 s a device waits")]
    [InlineData("error rate NaN", "health: max error rate NaN")]
    public async Task GateOrHealthLimitsThatAreNoNumbersInTheirRanges_AreRefused(string what, string message)
    {
        _node.Governance.Approve("alice", "tiny", 1, "first");
        var request = new RolloutRequest { Version = 1, Stages = [1.0], Reason = what };
        switch (what)
        {
            case "maxFailureRate NaN": request.Gates.MaxFailureRate = double.NaN; break;
            case "maxAccuracyDrop 2": request.Gates.MaxAccuracyDrop = 2; break;
            case "window -1": request.Health.WindowSeconds = -1; break;
            case "window 30 days": request.Health.WindowSeconds = 30 * 86_400; break;
            case "error rate NaN": request.Health.MaxErrorRate = double.NaN; break;
        }

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => _node.Rollouts.CreateAsync("bob", request, CancellationToken.None));
        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
        Assert.Empty(_node.Rollouts.All());
    }

    [Fact]
    public async Task AFirstStageThatReachesNoKnownDevice_IsCreatedWithAWarning()
    {
        await using var device = new ScriptedDevice("d-1", "test", _node);
        await device.ConnectAsync(5);
        await Eventually.Until(() => _node.Devices.All.Count == 1, "the device known");
        _node.Governance.Approve("alice", "tiny", 1, "first");

        // 1 % of one device: the stable hash puts it in the first stage with probability 0.01; a cohort no device has never does.
        var rollout = await _node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [0.01, 1.0], Cohort = new() { ["hw"] = ["jetson"] }, Reason = "canary" }, CancellationToken.None);
        Assert.Contains("warning: stage 1 (1%) targets none of the 1 known device in the cohort", rollout.Note, StringComparison.Ordinal);
        await _node.Rollouts.AbortAsync("bob", rollout.Id, "retry", CancellationToken.None);

        var everyone = await _node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Reason = "all" }, CancellationToken.None);
        Assert.DoesNotContain("warning", everyone.Note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AShareHoldingFewerDevicesThanItsGateNeeds_IsCreatedWithAWarningSayingSo()
    {
        await using var device = new ScriptedDevice("d-1", "test", _node);
        await device.ConnectAsync(5);
        await Eventually.Until(() => _node.Devices.All.Count == 1, "the device known");
        _node.Governance.Approve("alice", "tiny", 1, "first");

        // Every known device (one) is in the shadow share, but the shadow gate wants two: it would wait for ever.
        var shadow = await _node.Rollouts.CreateAsync("bob", new RolloutRequest
        {
            Version = 1, Stages = [1.0], Reason = "shadow first",
            Shadow = new ShadowRequest { Share = 1.0, MinDevices = 2, MinScored = 10 },
        }, CancellationToken.None);
        Assert.Contains("warning: the shadow share includes 1 of the 1 known devices and its gate needs 2", shadow.Note, StringComparison.Ordinal);
        await _node.Rollouts.AbortAsync("bob", shadow.Id, "retry", CancellationToken.None);

        var staged = await _node.Rollouts.CreateAsync("bob", new RolloutRequest
        {
            Version = 1, Stages = [1.0], Reason = "two reporting", Gates = new RolloutGates { MinDevicesReporting = 2 },
        }, CancellationToken.None);
        Assert.Contains("warning: stage 1 (100%) targets 1 of the 1 known device and its gate needs 2 reporting", staged.Note, StringComparison.Ordinal);
    }
}
