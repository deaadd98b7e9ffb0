using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Governance;

/// <summary>The admin API over real HTTP: authentication, roles, four eyes, states, rollouts, audit, cards, keys.</summary>
public sealed class AdminApiTests : IAsyncLifetime
{
    private AggregatorNode _node = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions
            {
                Mode = DeploymentMode.Governed,
                Identities =
                [
                    new AdminIdentity("alice", AdminIdentity.HashToken("alice-token"), new HashSet<string> { AdminRoles.Approver }),
                    new AdminIdentity("bob", AdminIdentity.HashToken("bob-token"), new HashSet<string> { AdminRoles.Operator }),
                    new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer }),
                    new AdminIdentity("dana", AdminIdentity.HashToken("dana-token"), new HashSet<string> { AdminRoles.Scientist, AdminRoles.Approver }),
                    new AdminIdentity("erin", AdminIdentity.HashToken("erin-token"), new HashSet<string> { AdminRoles.KeyAdmin }),
                ],
            },
        };
        _node = new AggregatorNode(options);
        await _node.StartAsync(CancellationToken.None);
        _http = new HttpClient { BaseAddress = _node.ArtifactBaseUrl };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _node.DisposeAsync();
    }

    private async Task<HttpResponseMessage> Send(HttpMethod method, string path, string? token, string? json = null, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Content = content ?? (json is null ? null : new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        return await _http.SendAsync(request);
    }

    private static async Task<string> Error(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString()!;

    private async Task<ulong> UploadAsync(string token, float shift)
    {
        var weights = ModelWeights.Initialize(AggregatorFixture.Spec, 11);
        for (var i = 0; i < weights.Values.Length; i++) weights.Values[i] += shift;
        using var body = new ByteArrayContent(ClassifierGraphs.BuildInference(weights).ToByteArray());
        var response = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions?reason=retrained%20offline", token, content: body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("version").GetUInt64();
    }

    [Theory]
    [InlineData("/v1/fleet/devices")]
    [InlineData("/v1/fleet/summary")]
    [InlineData("/v1/fleet/gateways")]
    [InlineData("/v1/models/tiny/versions")]
    [InlineData("/v1/models/tiny/rounds")]
    [InlineData("/v1/rejections")]
    [InlineData("/v1/strategy")]
    [InlineData("/metrics")]
    public async Task WhatTheFleetIsAndDoes_IsReadOnlyWithAToken(string path)
    {
        // The HTTPS API faces the device network (enrollment, artifacts): device ids, tags, contributors and counters are not for anyone there.
        var anonymous = await Send(HttpMethod.Get, path, null);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("missing bearer token", await Error(anonymous));
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, path, "nope-nope")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, path, "carol-token")).StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/v1/trust/root")]
    public async Task HealthAndTheTrustRoot_StayOpen(string path) =>
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, path, null)).StatusCode);

    [Fact]
    public async Task AReplicaTheCoordinatorFindsStarved_IsCountedInHealth_AndNamedInTheMetrics()
    {
        async Task<int> Starved() => JsonDocument.Parse(await (await Send(HttpMethod.Get, "/healthz", null)).Content.ReadAsStringAsync())
            .RootElement.GetProperty("replicasStarved").GetInt32();
        Assert.Equal(0, await Starved());

        for (var round = 1; round <= 2; round++) _node.Replicas.Observe($"tiny-r{round}", ["r2"], new HashSet<string>(), own: 4, fellShort: true);
        Assert.Equal(1, await Starved()); // open to the device network: a count, no names
        var metrics = await (await Send(HttpMethod.Get, "/metrics", "carol-token")).Content.ReadAsStringAsync();
        Assert.Contains("edgemlops_replica_silent_rounds{replica=\"r2\"} 2", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingOrUnknownToken_Is401_AndAMissingRoleIs403()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions", "nope-nope")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions", "carol-token")).StatusCode);

        var forbidden = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve", "carol-token", """{"reason":"looks fine"}""");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Contains("approver", await Error(forbidden), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/v1/admin/rollouts", "alice-token", """{"version":1}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Send(HttpMethod.Post, "/v1/admin/keys/rotate", "bob-token", """{"reason":"x"}""")).StatusCode);
    }

    [Fact]
    public async Task BadInput_Is400WithAMessage()
    {
        var noReason = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve", "alice-token", "{}");
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Contains("reason", await Error(noReason), StringComparison.Ordinal);
        var notJson = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve", "alice-token", "{reason:");
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Contains("JSON", await Error(notJson), StringComparison.Ordinal);
        var huge = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve", "alice-token", "{\"reason\":\"" + new string('x', 100_000) + "\"}");
        Assert.Equal(HttpStatusCode.BadRequest, huge.StatusCode);
        var stages = await Send(HttpMethod.Post, "/v1/admin/rollouts", "bob-token", """{"version":1,"stages":[0.5,0.1]}""");
        Assert.Equal(HttpStatusCode.BadRequest, stages.StatusCode);
        Assert.Contains("stages", await Error(stages), StringComparison.Ordinal);
        using var garbage = new ByteArrayContent([1, 2, 3, 4]);
        Assert.Equal(HttpStatusCode.BadRequest, (await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions?reason=x", "dana-token", content: garbage)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/99/approve", "alice-token", """{"reason":"x"}""")).StatusCode);
    }

    [Theory]
    [InlineData("/v1/admin/audit?limit=99999999999", "limit")]
    [InlineData("/v1/admin/drift?limit=ten", "limit")]
    [InlineData("/v1/admin/security/events?limit=1e3", "limit")]
    [InlineData("/v1/admin/models/tiny/versions/first", "version")]
    [InlineData("/v1/admin/models/tiny/versions/-1/card", "version")]
    [InlineData("/v1/admin/models/tiny/versions/18446744073709551616/explanation", "version")]
    [InlineData("/v1/admin/models/tiny/versions/1/card?format=pdf", "format")]
    public async Task AQueryOrPathValueOfTheWrongKind_Is400SayingWhich(string path, string named)
    {
        // A number that is none, or past its type, once answered an empty 400 (the framework's binding failure); a
        // card format it does not make was served as Markdown.
        var response = await Send(HttpMethod.Get, path, "carol-token");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, await Error(response), StringComparison.Ordinal);
    }

    /// <summary>
    /// A fleet that trained for months has tens of thousands of versions and rounds: every one of them in every answer
    /// made the console's five-second refresh read and send them all. The history comes a page at a time, the newest
    /// 1000 unless <c>?limit=</c> says otherwise, and <c>?before=</c> pages back.
    /// </summary>
    [Fact]
    public async Task VersionsAndRounds_ComeAPageAtATime_TheNewestFirstPage_AndBeforePagesBack()
    {
        var template = _node.Registry.Version("tiny", 1)!;
        for (ulong v = 2; v <= 1010; v++)
        {
            _node.Registry.AddVersion(template with { Version = v, Parent = v - 1, Round = (long)v - 1 });
            if (v <= 4) _node.Registry.AddRound(new RoundRecord("tiny", (long)v - 1, $"r{v - 1}", v - 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 1, 1, 5, 0, v, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        }

        async Task<ulong[]> VersionsAsync(string query) =>
            [.. JsonDocument.Parse(await (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions" + query, "carol-token")).Content.ReadAsStringAsync()).RootElement.EnumerateArray().Select(v => v.GetProperty("version").GetUInt64())];

        var page = await VersionsAsync(string.Empty);
        Assert.Equal((1000, 11UL, 1010UL), (page.Length, page[0], page[^1]));
        var back = await VersionsAsync("?limit=3&before=100");
        Assert.Equal([97UL, 98UL, 99UL], back);
        var one = await VersionsAsync("?limit=0");
        Assert.Equal([1010UL], one); // at least one
        Assert.Equal(1010, (await VersionsAsync("?limit=100000")).Length);
        var rounds = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/v1/models/tiny/rounds?limit=2", "carol-token")).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal([2L, 3L], rounds.EnumerateArray().Select(r => r.GetProperty("round").GetInt64()));
    }

    [Fact]
    public async Task AVersionOverTheWebServersDefault30MB_IsReadAndJudgedAsAModel_NotCutOff()
    {
        var large = new byte[40 << 20]; // a 40 MB model (MobileNet and ResNet exports are 14 to 100 MB)
        large.AsSpan().Fill(0x5a);
        Assert.DoesNotContain("request body over", await RefusedVersionAsync(large), StringComparison.Ordinal);
    }

    /// <summary>Uploads <paramref name="file"/> as a new version: it must be refused (400) with no version registered; the error.</summary>
    private async Task<string> RefusedVersionAsync(byte[] file)
    {
        var before = _node.Registry.Versions("tiny").Count;
        using var body = new ByteArrayContent(file);
        var response = await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions?reason=refused", "dana-token", content: body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(before, _node.Registry.Versions("tiny").Count);
        return await Error(response);
    }

    [Fact]
    public async Task AJsonBodyOverItsLimit_SentWithoutALength_Is400SayingSo()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "alice-token");
        request.Headers.TransferEncodingChunked = true;
        request.Content = new StreamContent(new NonSeekable(new byte[1 << 20]));
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("request body over 65536 bytes", await Error(response), StringComparison.Ordinal);
    }

    /// <summary>A body whose length the client cannot tell in advance (sent chunked).</summary>
    private sealed class NonSeekable(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    [Fact]
    public async Task AnUploadWhoseGraphWouldBeRewritten_Is400AndNoVersionIsRegistered()
    {
        var graph = Registry.UploadedGraphCheckTests.WithLayerNorm(ModelWeights.Initialize(AggregatorFixture.Spec, 11));
        Assert.Contains("LayerNormalization", await RefusedVersionAsync(graph.ToByteArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task FourEyes_TheCreatorCannotApprove_AnotherApproverCan_AndEveryStepIsAudited()
    {
        var version = await UploadAsync("dana-token", 0.01f);
        Assert.Equal(2UL, version);
        Assert.Equal("dana", _node.Registry.Version("tiny", version)!.CreatedBy);

        var self = await Send(HttpMethod.Post, $"/v1/admin/models/tiny/versions/{version}/approve", "dana-token", """{"reason":"my own work"}""");
        Assert.Equal(HttpStatusCode.Forbidden, self.StatusCode);
        Assert.Contains("four eyes", await Error(self), StringComparison.Ordinal);

        // No evaluation data here: the candidate is held for review, then approved by someone else.
        Assert.Equal(VersionStates.Candidate, _node.Registry.Version("tiny", version)!.State);
        var approved = await Send(HttpMethod.Post, $"/v1/admin/models/tiny/versions/{version}/approve", "alice-token", """{"reason":"reviewed the offline evaluation"}""");
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        Assert.Equal(VersionStates.Approved, _node.Registry.Version("tiny", version)!.State);
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, $"/v1/admin/models/tiny/versions/{version}/approve", "alice-token", """{"reason":"again"}""")).StatusCode);

        // Rejected is final.
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/reject", "alice-token", """{"reason":"superseded"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, "/v1/admin/models/tiny/versions/1/approve", "alice-token", """{"reason":"changed my mind"}""")).StatusCode);

        var verify = JsonDocument.Parse(await (await Send(HttpMethod.Get, "/v1/admin/audit/verify", "carol-token")).Content.ReadAsStringAsync()).RootElement;
        Assert.True(verify.GetProperty("intact").GetBoolean());
        var audit = _node.Audit.Entries($"model/tiny/v{version}");
        Assert.Contains(audit, e => e.Actor == "dana" && e.Action == "version.create" && e.Reason == "retrained offline");
        Assert.Contains(audit, e => e.Actor == "alice" && e.Action == "version.approved" && e.Before == VersionStates.Candidate && e.After == VersionStates.Approved);
    }

    [Fact]
    public async Task Rollouts_NeedAnApprovedVersionBeyondTheCanary_AndAreSteeredAndAudited()
    {
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, "/v1/admin/rollouts", "bob-token", """{"version":1,"stages":[0.1,1]}""")).StatusCode);
        var version = await UploadAsync("dana-token", 0.02f);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/v1/admin/models/tiny/versions/{version}/approve", "alice-token", """{"reason":"ok"}""")).StatusCode);

        var created = await Send(HttpMethod.Post, "/v1/admin/rollouts", "bob-token", $$"""{"version":{{version}},"cohort":{"hw":["pi4"]},"exponential":{"start":0.01,"factor":10},"autoAdvance":false,"reason":"canary first"}""");
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        var view = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement;
        var id = view.GetProperty("rollout").GetProperty("id").GetString()!;
        Assert.Equal([0.01, 0.1, 1.0], view.GetProperty("rollout").GetProperty("stages").EnumerateArray().Select(e => Math.Round(e.GetDouble(), 6)));

        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, "/v1/admin/rollouts", "bob-token", $$"""{"version":{{version}}}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/pause", "bob-token", """{"reason":"weekend"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/advance", "bob-token", """{"reason":"paused"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/resume", "bob-token", """{"reason":"monday"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/advance", "bob-token", """{"reason":"canary fine"}""")).StatusCode);
        Assert.Equal(1, _node.Rollouts.Current!.Stage);
        Assert.Equal(HttpStatusCode.OK, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/abort", "bob-token", """{"reason":"customer complaint"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await Send(HttpMethod.Post, $"/v1/admin/rollouts/{id}/resume", "bob-token", """{"reason":"no"}""")).StatusCode);

        var status = JsonDocument.Parse(await (await Send(HttpMethod.Get, $"/v1/admin/rollouts/{id}", "carol-token")).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("Aborted", status.GetProperty("rollout").GetProperty("state").GetString());
        Assert.Equal(3, status.GetProperty("stages").GetArrayLength());
        var actions = _node.Audit.Entries($"rollout/{id}").Select(e => e.Action).ToArray();
        Assert.Equal(["rollout.create", "rollout.pause", "rollout.resume", "rollout.advance", "rollout.abort"], actions);
        Assert.True(_node.Audit.Verify().Intact);
    }

    [Fact]
    public async Task ModelCard_IsServedAsMarkdownAndEscapedHtml()
    {
        var markdown = await (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions/1/card", "carol-token")).Content.ReadAsStringAsync();
        Assert.StartsWith("# Model card: tiny v1", markdown, StringComparison.Ordinal);
        foreach (var section in new[] { "## Model details", "## Intended use", "## Factors and cohorts", "## Metrics", "## Training data", "## Explanations", "## Subpopulations", "## Lineage", "## Caveats" })
        {
            Assert.Contains(section, markdown, StringComparison.Ordinal);
        }

        // The interface and the trained set, read from the version's own artifacts (mlp-4-3-2: every tensor trains).
        Assert.Contains("## Interface and training", markdown, StringComparison.Ordinal);
        Assert.Contains("| input | features | float [batch, 4] |", markdown, StringComparison.Ordinal);
        Assert.Contains("| operators |  | Gemm ×2, ArgMax ×1, Relu ×1, Softmax ×1 |", markdown, StringComparison.Ordinal);
        Assert.Contains("| trained | 4 tensors, 23 values | layer0.weight float [4, 3], layer0.bias float [3], layer1.weight float [3, 2], layer1.bias float [2] |", markdown, StringComparison.Ordinal);
        Assert.Contains("| frozen | 0 tensors, 0 values |", markdown, StringComparison.Ordinal);

        var html = await (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions/1/card?format=html", "carol-token")).Content.ReadAsStringAsync();
        Assert.Contains("<h1>Model card: tiny v1</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<table>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", html, StringComparison.Ordinal);

        // This node has no held-out data: the card says so, and the explanation endpoint answers 409 with the reason.
        Assert.Contains("No explanation: the aggregator has no held-out evaluation data", markdown, StringComparison.Ordinal);
        var explanation = await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions/1/explanation", "carol-token");
        Assert.Equal(HttpStatusCode.Conflict, explanation.StatusCode);
        Assert.Contains("Evaluation:DataFile", await Error(explanation), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await Send(HttpMethod.Get, "/v1/admin/models/tiny/versions/99/explanation", "carol-token")).StatusCode);
    }

    [Fact]
    public async Task KeyRotation_CertifiesANewKey_RevokesTheOld_AndIsAudited()
    {
        var before = _node.Keys.SigningKeyId;
        var response = await Send(HttpMethod.Post, "/v1/admin/keys/rotate", "erin-token", """{"revokeOld":true,"reason":"scheduled rotation"}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual(before, _node.Keys.SigningKeyId);
        Assert.Equal(2UL, _node.Keys.Bundle.Version);
        Assert.Contains(before, _node.Keys.Bundle.RevokedKeyIds);
        Assert.DoesNotContain(_node.Keys.Bundle.Keys, k => k.KeyId == before);
        Assert.Contains(_node.Audit.Entries("keys/"), e => e.Actor == "erin" && e.Before == before && e.After == _node.Keys.SigningKeyId);
        var root = await (await _http.GetAsync("/v1/trust/root")).Content.ReadAsStringAsync();
        Assert.Equal(Convert.ToBase64String(_node.Keys.RootPublicKey), root.Trim());
    }
}
