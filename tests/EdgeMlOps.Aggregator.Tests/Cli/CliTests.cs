using EdgeMlOps.Aggregator.Governance;
using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Cli;

/// <summary>The <c>edgemlops</c> command line against a running aggregator over HTTP.</summary>
public sealed class CliTests : IAsyncLifetime
{
    private AggregatorNode _node = null!;

    public async Task InitializeAsync()
    {
        _node = new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions
            {
                Mode = DeploymentMode.Governed,
                Identities =
                [
                    new AdminIdentity("alice", AdminIdentity.HashToken("alice-token"), new HashSet<string> { AdminRoles.Approver }),
                    new AdminIdentity("bob", AdminIdentity.HashToken("bob-token"), new HashSet<string> { AdminRoles.Operator }),
                    new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer }),
                    new AdminIdentity("dave", AdminIdentity.HashToken("dave-token"), new HashSet<string> { AdminRoles.KeyAdmin, AdminRoles.Viewer }),
                ],
            },
        });
        await _node.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync() => await _node.DisposeAsync();

    private async Task<(int Exit, string Output)> Run(string token, params string[] args)
    {
        var console = new TestConsole().Width(250);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync([.. args, "--url", _node.ArtifactBaseUrl.ToString(), "--token", token, "--model", "tiny"], console);
        return (exit, console.Output);
    }

    [Fact]
    public async Task AnUnknownModel_IsAnError_NotAnEmptyTable()
    {
        var console = new TestConsole().Width(250);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "list", "--url", _node.ArtifactBaseUrl.ToString(), "--token", "carol-token", "--model", "tinny"], console);
        Assert.Equal(1, exit);
        Assert.Contains("404", console.Output, StringComparison.Ordinal);
        Assert.Contains("no model 'tinny' (this aggregator has 'tiny')", console.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExplainAndEvaluate_SayWhyWhenThereIsNothingToExplainOn_AndRefuseInputsTheModelDoesNotHave()
    {
        var (exit, output) = await Run("carol-token", "models", "explain", "1");
        Assert.Equal(1, exit);
        Assert.Contains("409", output, StringComparison.Ordinal);
        Assert.Contains("nothing to explain on", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "evaluate", "--devices", "3");
        Assert.Equal(1, exit);
        Assert.Contains("403", output, StringComparison.Ordinal); // viewers may not start an evaluation

        (exit, output) = await Run("bob-token", "evaluate", "--devices", "3", "--inputs", "0,9");
        Assert.Equal(1, exit);
        Assert.Contains("'importanceInputs' must be in [0, 4)", output, StringComparison.Ordinal);

        // No device online: answered at once (nobody to wait for), with nothing measured.
        var started = System.Diagnostics.Stopwatch.StartNew();
        (exit, output) = await Run("bob-token", "evaluate", "--devices", "3", "--importance");
        Assert.Equal(0, exit);
        Assert.Contains("0 of 0 devices answered", output, StringComparison.Ordinal);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
    }

    [Fact]
    public async Task Pipeline_RunStatusStopPauseResume_ThroughTheCommandLine()
    {
        var (exit, output) = await Run("bob-token", "pipeline", "run", "--reason", "new labels");
        Assert.Equal(1, exit);
        Assert.Contains("no deployed version to retrain from", output, StringComparison.Ordinal);

        var v1 = _node.Governance.Approve("alice", "tiny", 1, "first version");
        _node.Governance.Move(v1, EdgeMlOps.Aggregator.Registry.VersionStates.Deployed, "system:rollout", "rolled out");
        (exit, output) = await Run("bob-token", "pipeline", "run", "--reason", "a month of new labels");
        Assert.Equal(0, exit);
        Assert.Contains("Training", output, StringComparison.Ordinal);
        Assert.Contains("trigger manual: a month of new labels", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "pipeline", "stop", "--reason", "viewers cannot");
        Assert.Equal(1, exit);
        Assert.Contains("403", output, StringComparison.Ordinal);
        (exit, output) = await Run("alice-token", "pipeline", "approve", "--reason", "too early");
        Assert.Equal(1, exit);
        Assert.Contains("not awaiting approval", output, StringComparison.Ordinal);
        (exit, output) = await Run("bob-token", "pipeline", "stop", "--reason", "wrong labels");
        Assert.Equal(0, exit);
        Assert.Contains("Stopped", output, StringComparison.Ordinal);

        (exit, output) = await Run("bob-token", "pipeline", "pause", "--reason", "freeze");
        Assert.Equal((0, true), (exit, output.Contains("paused", StringComparison.Ordinal)));
        (exit, output) = await Run("carol-token", "pipeline", "status");
        Assert.Equal(0, exit);
        Assert.Contains("paused by bob", output, StringComparison.Ordinal);
        Assert.Contains("stopped by bob: wrong labels", output, StringComparison.Ordinal);
        (exit, output) = await Run("carol-token", "pipeline", "history");
        Assert.Equal(0, exit);
        Assert.Contains("manual", output, StringComparison.Ordinal);
        (exit, output) = await Run("bob-token", "pipeline", "resume", "--reason", "freeze over");
        Assert.Equal((0, true), (exit, output.Contains("running", StringComparison.Ordinal)));

        var file = Path.Combine(AggregatorFixture.TempDirectory(), "policy.json");
        await File.WriteAllTextAsync(file, """{"rounds":4,"approvals":2,"rollout":{"stages":[0.2,1]}}""");
        (exit, output) = await Run("bob-token", "pipeline", "policy", "set", file, "--reason", "operators may not");
        Assert.Equal(1, exit);
        Assert.Contains("403", output, StringComparison.Ordinal);
        (exit, output) = await Run("alice-token", "pipeline", "policy", "set", file, "--reason", "two approvers from now on");
        Assert.Equal(0, exit);
        Assert.Contains("policy from registry: 4 rounds, 2 approval(s)", output, StringComparison.Ordinal);
        (exit, output) = await Run("carol-token", "pipeline", "policy", "show");
        Assert.Equal(0, exit);
        Assert.Contains("\"rounds\": 4", output, StringComparison.Ordinal);
        (exit, output) = await Run("alice-token", "pipeline", "policy", "reset", "--reason", "back to the file");
        Assert.Equal((0, true), (exit, output.Contains("policy from configuration", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Json_PrintsTheApisAnswer_InsteadOfATable()
    {
        var (exit, output) = await Run("carol-token", "models", "list", "--json");
        Assert.Equal(0, exit);
        using var answer = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(1UL, answer.RootElement[0].GetProperty("version").GetUInt64());
        Assert.DoesNotContain("┌", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "rounds");
        Assert.Equal(0, exit);
        Assert.Contains("New version", output, StringComparison.Ordinal);
        (exit, output) = await Run("carol-token", "drift", "--json");
        Assert.Equal(0, exit);
        Assert.Equal(System.Text.Json.JsonValueKind.Array, System.Text.Json.JsonDocument.Parse(output).RootElement.ValueKind);
    }

    /// <summary>A device's predicted classes move from half-and-half to four in five: the drift table says which outputs moved and by which test.</summary>
    [Fact]
    public async Task Drift_ShowsPredictionDrift_WithTheTestThatFoundIt()
    {
        var now = DateTimeOffset.UtcNow.AddMinutes(-10); // the later window is now: a profile dated ahead of the aggregator's clock is refused
        foreach (var (sequence, end, share) in new[] { (2UL, now, 0.5), (3UL, now.AddMinutes(10), 0.8) })
        {
            Assert.True(_node.Drift.AddProfile("dev-1", Monitoring.ClassMixWindow.Report("test", "dev-1", sequence, end, share)).Accepted);
        }

        await _node.EvaluateDriftAsync(_node.Monitor.WindowOf(now), CancellationToken.None); // the first window: v1's prediction reference
        await _node.EvaluateDriftAsync(_node.Monitor.WindowOf(now.AddMinutes(10)), CancellationToken.None);
        var (exit, output) = await Run("carol-token", "drift");
        Assert.Equal(0, exit);
        Assert.Contains("Prediction drift", output, StringComparison.Ordinal);
        Assert.Contains("yes: predicted classes (chisquare", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecurityWorkflow_TokenEnrollListRevokeAndEvents()
    {
        // Viewers may not mint tokens or revoke; key admins may.
        var (exit, output) = await Run("carol-token", "devices", "token", "--device", "dev-9");
        Assert.Equal(1, exit);
        Assert.Contains("403", output, StringComparison.Ordinal);

        (exit, output) = await Run("dave-token", "devices", "token", "--device", "dev-9", "--hours", "2");
        Assert.Equal(0, exit);
        var token = output.Trim();
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var csr = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", key, System.Security.Cryptography.HashAlgorithmName.SHA256).CreateSigningRequestPem();
        Assert.Equal(200, _node.Security.Enrollment.Enroll(new EdgeMlOps.Runtime.Security.EnrollmentRequest("dev-9", token, csr)).Status);

        (exit, output) = await Run("carol-token", "devices", "list");
        Assert.Equal(0, exit);
        Assert.Contains("dev-9", output, StringComparison.Ordinal);

        (exit, output) = await Run("dave-token", "devices", "revoke", "dev-9", "--reason", "lost in transit");
        Assert.Equal(0, exit);
        Assert.Contains("revoked", output, StringComparison.Ordinal);
        (exit, output) = await Run("carol-token", "devices", "list");
        Assert.Contains("lost in transit", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "security", "events", "--limit", "10");
        Assert.Equal(0, exit);
        Assert.Contains("DeviceRevoked", output, StringComparison.Ordinal);
        Assert.Contains("DeviceEnrolled", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OperatorWorkflow_ListApproveRollOutAbortAndVerify()
    {
        var (exit, output) = await Run("carol-token", "models", "list");
        Assert.Equal(0, exit);
        Assert.Contains("candidate", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "models", "approve", "1", "--reason", "lgtm");
        Assert.Equal(1, exit);
        Assert.Contains("403", output, StringComparison.Ordinal);

        (exit, _) = await Run("alice-token", "models", "approve", "1");
        Assert.Equal(2, exit);

        (exit, output) = await Run("alice-token", "models", "approve", "1", "--reason", "reviewed");
        Assert.Equal(0, exit);
        Assert.Contains("approved", output, StringComparison.Ordinal);

        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--stages", "0.1,1", "--cohort", "hw=pi4,jetson", "--window", "5", "--manual", "--reason", "canary");
        Assert.Equal(0, exit);
        Assert.Contains("Active", output, StringComparison.Ordinal);
        var id = _node.Rollouts.Current!.Id;
        Assert.Equal(["pi4", "jetson"], _node.Rollouts.Current.Request.Cohort["hw"]);
        Assert.False(_node.Rollouts.Current.Request.AutoAdvance);

        (exit, output) = await Run("carol-token", "rollouts", "status");
        Assert.Equal(0, exit);
        Assert.Contains(id, output, StringComparison.Ordinal);
        Assert.Contains("Rolled back", output, StringComparison.Ordinal);

        (exit, output) = await Run("bob-token", "rollouts", "abort", id, "--reason", "stop");
        Assert.Equal(0, exit);
        Assert.Contains("Aborted", output, StringComparison.Ordinal);

        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--stages", "0.1,1", "--shadow", "0.1", "--shadow-min-scored", "500", "--shadow-without-labels", "--reason", "shadow first");
        Assert.Equal(0, exit);
        Assert.Contains("Shadow", output, StringComparison.Ordinal);
        Assert.Contains("shadow: 0 requests scored on 0 devices", output, StringComparison.Ordinal);
        var shadowed = _node.Rollouts.Current!;
        Assert.Equal(EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Shadow, shadowed.State);
        Assert.Equal(new EdgeMlOps.Aggregator.Rollouts.ShadowRequest { Share = 0.1, MinScored = 500, RequireLabels = false }, shadowed.Request.Shadow);
        (exit, _) = await Run("bob-token", "rollouts", "abort", shadowed.Id, "--reason", "stop");
        Assert.Equal(0, exit);

        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--stages", "0.1,1", "--ab", "0.2", "--ab-mode", "fixed", "--ab-baseline", "0.9", "--ab-min-effect", "0.03", "--reason", "A/B first");
        Assert.Equal(0, exit);
        Assert.Contains("A/B test: 0 devices", output, StringComparison.Ordinal);
        var tested = _node.Rollouts.Current!;
        Assert.Equal(EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Experiment, tested.State);
        Assert.Equal((0.2, 0.5, EdgeMlOps.Aggregator.Experiments.ExperimentMode.FixedHorizon, 0.9, 0.03), (tested.Request.Experiment!.Share, tested.Request.Experiment.Split, tested.Request.Experiment.Design.Mode, tested.Request.Experiment.Design.BaselineRate, tested.Request.Experiment.Design.MinDetectableEffect));
        (exit, _) = await Run("bob-token", "rollouts", "abort", tested.Id, "--reason", "stop");
        Assert.Equal(0, exit);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-mode", "bandit", "--ab-metric", "share:1", "--ab-lower-is-better", "--reason", "fewer escalations");
        Assert.Equal(0, exit);
        Assert.Equal(("share:1", false), (_node.Rollouts.Current!.Request.Experiment!.Metric, _node.Rollouts.Current.Request.Experiment!.HigherIsBetter));
        (exit, _) = await Run("bob-token", "rollouts", "abort", _node.Rollouts.Current.Id, "--reason", "stop");
        Assert.Equal(0, exit);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-metric", "cost:1>0=5,0>1=1", "--ab-lower-is-better", "--ab-sd", "1.5", "--ab-min-effect", "0.2", "--reason", "fewer missed frauds");
        Assert.Equal(0, exit);
        Assert.Contains("A/B test: 0 devices, 0 requests to A, 0 to B; cost:1>0=5,0>1=1 B", output, StringComparison.Ordinal);
        var costed = _node.Rollouts.Current!.Request.Experiment!;
        Assert.Equal(("cost:1>0=5,0>1=1", false, 1.5, 0.2), (costed.Metric, costed.HigherIsBetter, costed.Design.StandardDeviation, costed.Design.MinDetectableEffect));
        (exit, _) = await Run("bob-token", "rollouts", "abort", _node.Rollouts.Current.Id, "--reason", "stop");
        Assert.Equal(0, exit);
        (exit, _) = await Run("bob-token", "rollouts", "create", "1", "--stratify-by", "hw", "--reason", "mixed hardware");
        Assert.Equal(0, exit);
        Assert.Equal("hw", _node.Rollouts.Current!.Request.Gates.StratifyBy);
        (exit, _) = await Run("bob-token", "rollouts", "abort", _node.Rollouts.Current.Id, "--reason", "stop");
        Assert.Equal(0, exit);
        (exit, _) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-unit", "device", "--ab-mode", "fixed", "--ab-icc", "0.06", "--ab-labels-per-device", "200", "--reason", "one version per device");
        Assert.Equal(0, exit);
        Assert.Equal(EdgeMlOps.Aggregator.Experiments.RandomisationUnit.Device, _node.Rollouts.Current!.Request.Experiment!.Unit);
        Assert.Equal(1 + 199 * 0.06, _node.Rollouts.Current.Request.Experiment!.Design.DesignEffect, 9);
        Assert.Contains("50 % of its devices to the version", _node.Rollouts.Current.Note, StringComparison.Ordinal);
        (exit, _) = await Run("bob-token", "rollouts", "abort", _node.Rollouts.Current.Id, "--reason", "stop");
        Assert.Equal(0, exit);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-unit", "user", "--reason", "r");
        Assert.Equal(2, exit);
        Assert.Contains("'user' is not request or device", output, StringComparison.Ordinal);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-metric", "cost:1>0=5", "--reason", "r");
        Assert.Equal(1, exit);
        Assert.Contains("needs its standard deviation per observation (CLI --ab-sd)", output, StringComparison.Ordinal);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-metric", "revenue", "--reason", "r");
        Assert.Equal(1, exit);
        Assert.Contains("metric 'revenue' is not 'accuracy', 'share:C'", output, StringComparison.Ordinal);
        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--ab", "0.2", "--ab-mode", "peeking", "--reason", "r");
        Assert.Equal(2, exit);
        Assert.Contains("'peeking'", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "audit", "verify");
        Assert.Equal(0, exit);
        Assert.Contains("intact", output, StringComparison.Ordinal);

        (exit, output) = await Run("carol-token", "audit", "list", "--subject", "rollout/");
        Assert.Equal(0, exit);
        Assert.Contains("rollout.abort", output, StringComparison.Ordinal);

        var card = Path.Combine(AggregatorFixture.TempDirectory(), "card.md");
        (exit, _) = await Run("carol-token", "models", "card", "1", "--out", card);
        Assert.Equal(0, exit);
        Assert.StartsWith("# Model card: tiny v1", await File.ReadAllTextAsync(card), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongTokenBadInputAndNoAggregator_GiveDistinctExitCodes()
    {
        var (exit, output) = await Run("wrong-token", "models", "list");
        Assert.Equal(1, exit);
        Assert.Contains("401", output, StringComparison.Ordinal);
        Assert.Contains("--token TOKEN or EDGEMLOPS_TOKEN", output, StringComparison.Ordinal); // what to do, not only what went wrong

        (exit, output) = await Run("bob-token", "rollouts", "create", "1", "--stages", "0.1,x", "--reason", "r");
        Assert.Equal(2, exit);
        Assert.Contains("'x'", output, StringComparison.Ordinal);

        var console = new TestConsole().Width(250);
        exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "list", "--url", $"http://127.0.0.1:{BrokerPorts.Free()}", "--token", "t"], console);
        Assert.Equal(3, exit);
        Assert.Contains("cannot reach", console.Output, StringComparison.Ordinal);
    }
}
