using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Tests.Pipeline;

/// <summary>The retraining pipeline through the admin API over real HTTP: roles, refusals, manual runs, pause and resume, stop, restart.</summary>
public sealed class PipelineApiTests : IAsyncLifetime
{
    private readonly string _directory = AggregatorFixture.TempDirectory();
    private AggregatorNode _node = null!;
    private HttpClient _http = null!;

    private AggregatorOptions Options() => AggregatorFixture.Options(_directory, clients: 1) with
    {
        Governance = new GovernanceOptions
        {
            Mode = DeploymentMode.Governed,
            Identities =
            [
                new AdminIdentity("alice", AdminIdentity.HashToken("alice-token"), new HashSet<string> { AdminRoles.Approver }),
                new AdminIdentity("bob", AdminIdentity.HashToken("bob-token"), new HashSet<string> { AdminRoles.Operator }),
                new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer }),
            ],
        },
    };

    public async Task InitializeAsync() => await StartAsync();

    private async Task StartAsync()
    {
        _node = new AggregatorNode(Options());
        await _node.StartAsync(CancellationToken.None);
        _http = new HttpClient { BaseAddress = _node.ArtifactBaseUrl };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _node.DisposeAsync();
    }

    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, string token, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (json is not null) request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        return await _http.SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    /// <summary>Marks version 1 deployed, as a completed rollout would.</summary>
    private void DeployFirstVersion()
    {
        var v1 = _node.Governance.Approve("alice", _node.Options.ModelName, 1, "first version");
        _node.Governance.Move(v1, VersionStates.Deployed, "system:rollout", "rolled out");
    }

    [Fact]
    public async Task ViewersRead_OperatorsStart_AndARunNeedsADeployedVersion()
    {
        var view = await Json(await Send(HttpMethod.Get, "/v1/admin/pipeline", "carol-token"));
        Assert.False(view.GetProperty("paused").GetBoolean());
        Assert.Equal(3, view.GetProperty("policy").GetProperty("rounds").GetInt32());
        Assert.Equal(JsonValueKind.Null, view.GetProperty("active").ValueKind);

        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/v1/admin/pipeline/runs", "carol-token", """{"reason":"x"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/v1/admin/pipeline/pause", "alice-token", """{"reason":"x"}""")).StatusCode);
        var noBase = await Send(HttpMethod.Post, "/v1/admin/pipeline/runs", "bob-token", """{"reason":"new labels from the field"}""");
        Assert.Equal(HttpStatusCode.Conflict, noBase.StatusCode);
        Assert.Contains("no deployed version", (await Json(noBase)).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Post, "/v1/admin/pipeline/runs", "bob-token", """{"reason":""}""")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Post, "/v1/admin/pipeline/approve", "alice-token", """{"reason":"ok"}""")).StatusCode);
    }

    [Fact]
    public async Task AManualRun_IsOneAtATime_StopsOnRequest_AndEveryStepIsAudited()
    {
        DeployFirstVersion();
        var started = await Send(HttpMethod.Post, "/v1/admin/pipeline/runs", "bob-token", """{"reason":"a month of new labels"}""");
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var run = await Json(started);
        var id = run.GetProperty("id").GetString()!;
        Assert.Equal("Training", run.GetProperty("stage").GetString());
        Assert.Equal("manual", run.GetProperty("trigger").GetProperty("kind").GetString());
        Assert.Equal(1UL, run.GetProperty("baseVersion").GetUInt64());

        var second = await Send(HttpMethod.Post, "/v1/admin/pipeline/runs", "bob-token", """{"reason":"again"}""");
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains(id, (await Json(second)).GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, "/v1/admin/pipeline/approve", "alice-token", """{"reason":"ok"}""")).StatusCode);

        var stopped = await Json(await Send(HttpMethod.Post, "/v1/admin/pipeline/stop", "bob-token", """{"reason":"wrong labels uploaded"}"""));
        Assert.Equal("Stopped", stopped.GetProperty("stage").GetString());
        Assert.Contains("wrong labels uploaded", stopped.GetProperty("note").GetString(), StringComparison.Ordinal);

        var stored = await Json(await Send(HttpMethod.Get, $"/v1/admin/pipeline/runs/{id}", "carol-token"));
        Assert.Equal("Stopped", stored.GetProperty("stage").GetString());
        var steps = stored.GetProperty("steps").EnumerateArray().Select(s => s.GetProperty("step").GetString()).ToArray();
        Assert.Equal("start", steps[0]);
        Assert.Equal("stop", steps[^1]);
        var audit = _node.Audit.Entries($"pipeline/{_node.Options.ModelName}/{id}", 100).Select(e => e.Action).ToArray();
        Assert.Contains("pipeline.start", audit);
        Assert.Contains("pipeline.stop", audit);
        Assert.True(_node.Audit.Verify().Intact);
        Assert.Null(_node.Pipeline.Active);
    }

    [Fact]
    public async Task Pause_SurvivesARestart_StopsNewRuns_AndAnActiveRunResumesAfterARestart()
    {
        DeployFirstVersion();
        var paused = await Json(await Send(HttpMethod.Post, "/v1/admin/pipeline/pause", "bob-token", """{"reason":"holiday freeze"}"""));
        Assert.True(paused.GetProperty("paused").GetBoolean());
        Assert.Equal("bob", paused.GetProperty("pausedBy").GetString());
        var run = _node.Pipeline.Start(new EdgeMlOps.Aggregator.Pipeline.PipelineTrigger("manual", "before the freeze ends"), "bob");

        await DisposeAsync();
        await StartAsync();
        Assert.True(_node.Pipeline.Paused);
        Assert.Equal(run.Id, _node.Pipeline.Active?.Id); // the run is picked up where it was
        await _node.Pipeline.StepAsync(CancellationToken.None);
        Assert.Equal(0, _node.Pipeline.Active!.RoundsRun); // paused: nothing moves

        var resumed = await Json(await Send(HttpMethod.Post, "/v1/admin/pipeline/resume", "bob-token", """{"reason":"freeze over"}"""));
        Assert.False(resumed.GetProperty("paused").GetBoolean());
        var actions = _node.Audit.Entries($"pipeline/{_node.Options.ModelName}", 100).Select(e => e.Action).ToArray();
        Assert.Contains("pipeline.pause", actions);
        Assert.Contains("pipeline.resume", actions);
    }

    [Fact]
    public async Task ThePolicy_IsSetByApprovers_Validated_KeptInTheRegistryAcrossRestarts_AndResetToConfiguration()
    {
        const string Policy = """{"policy":{"enabled":true,"rounds":5,"approvals":2,"freshLabels":1000,"gates":{"federatedDevices":20,"minTopInputOverlap":0.5},"rollout":{"stages":[0.1,1],"shadow":{"share":0.1}}},"reason":"stricter after the audit"}""";
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Put, "/v1/admin/pipeline/policy", "bob-token", Policy)).StatusCode);
        var bad = await Send(HttpMethod.Put, "/v1/admin/pipeline/policy", "alice-token", """{"policy":{"rounds":0,"approvals":3},"reason":"typo"}""");
        Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, await bad.Content.ReadAsStringAsync());
        var error = (await Json(bad)).GetProperty("error").GetString()!;
        Assert.Contains("Pipeline:Rounds: 0 is not in [1, 1000]", error, StringComparison.Ordinal);
        Assert.Contains("Pipeline:Approvals: 3 is not 0, 1 or 2", error, StringComparison.Ordinal);

        var set = await Json(await Send(HttpMethod.Put, "/v1/admin/pipeline/policy", "alice-token", Policy));
        Assert.Equal("registry", set.GetProperty("policySource").GetString());
        Assert.Equal(5, set.GetProperty("policy").GetProperty("rounds").GetInt32());
        Assert.True(_node.Pipeline.Policy.Enabled);
        Assert.Equal(20, _node.Pipeline.Policy.Gates.FederatedDevices);
        Assert.Equal([0.1, 1.0], _node.Pipeline.Policy.Rollout.Stages);

        await DisposeAsync();
        await StartAsync();
        Assert.Equal(5, _node.Pipeline.Policy.Rounds); // kept in the registry, not in configuration
        var entry = _node.Audit.Entries($"pipeline/{_node.Options.ModelName}", 100).Last(e => e.Action == "pipeline.policy");
        Assert.Equal(("alice", "stricter after the audit"), (entry.Actor, entry.Reason));
        Assert.StartsWith("registry: enabled, 5 rounds, 2 approvals", entry.After, StringComparison.Ordinal);

        var reset = await Json(await Send(HttpMethod.Delete, "/v1/admin/pipeline/policy?reason=back%20to%20the%20file", "alice-token"));
        Assert.Equal("configuration", reset.GetProperty("policySource").GetString());
        Assert.Equal(3, _node.Pipeline.Policy.Rounds);
        Assert.True(_node.Audit.Verify().Intact);
    }
}
