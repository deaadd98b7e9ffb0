using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Pipeline;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Governance;

/// <summary>
/// Mutation fuzzing of the admin API's request bodies (docs/SECURITY.md, "Mutation fuzzing"): a token holder's broken
/// script or a stolen token is still a client whose every byte is hostile. Valid bodies — a rollout with every phase
/// (exponential stages, gates, shadow, experiment, health), its actions, the pipeline's policy and runs, approvals,
/// enrollment tokens and a federated evaluation — are mutated 1,800 times (<see cref="JsonMutator"/>: extreme and
/// tiny numbers, nulls, nesting, cut spans). Every answer is below 500 and comes at once (no request runs away with a
/// thread), and afterwards the API serves the rollouts, the pipeline and an audit chain that still verifies.
/// Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw. Path values and query parameters of every route get a fixed
/// list of hostile values: each answer below 500, each 400 saying why.
/// </summary>
public sealed class AdminApiFuzzTests(ITestOutputHelper output)
{
    private const string Token = "root-token";

    [Fact]
    public async Task MutatedAdminRequests_AreAnsweredBelow500AtOnce_AndTheRegistryAndAuditChainHold()
    {
        await using var node = await StartGovernedAsync();
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl, Timeout = TimeSpan.FromSeconds(20) };
        var weights = ModelWeights.Initialize(AggregatorFixture.Spec, 11);
        using (var upload = await Send(http, HttpMethod.Post, "/v1/admin/models/tiny/versions?reason=fuzz", new ByteArrayContent(ClassifierGraphs.BuildInference(weights).ToByteArray())))
        {
            Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        }

        var rollout = new RolloutRequest
        {
            Version = 2, Exponential = new ExponentialRate(0.1, 2), Shadow = new ShadowRequest(), Experiment = new ExperimentRequest(), Reason = "fuzz",
            Cohort = new Dictionary<string, string[]>(StringComparer.Ordinal) { ["hw"] = ["pi4"] },
        };
        (HttpMethod Method, string Path, string Json)[] seeds =
        [
            (HttpMethod.Post, "/v1/admin/rollouts", JsonSerializer.Serialize(rollout, RolloutJson.Default.RolloutRequest)),
            (HttpMethod.Post, "/v1/admin/rollouts", JsonSerializer.Serialize(rollout with { Exponential = null, Stages = [0.2, 0.6, 1.0], Experiment = null }, RolloutJson.Default.RolloutRequest)),
            (HttpMethod.Post, "/v1/admin/models/tiny/versions/2/approve", """{"reason":"fuzz"}"""),
            (HttpMethod.Put, "/v1/admin/pipeline/policy", JsonSerializer.Serialize(new PolicyRequest(new PipelinePolicy { Enabled = false }, "fuzz"), PipelineJson.Default.PolicyRequest)),
            (HttpMethod.Post, "/v1/admin/pipeline/runs", """{"reason":"fuzz"}"""),
            (HttpMethod.Post, "/v1/admin/enrollment-tokens", """{"deviceId":"dev-fuzz","hours":2,"uses":3}"""),
            (HttpMethod.Post, "/v1/admin/evaluations", """{"devices":2,"importance":true,"importanceInputs":[0,1],"dependenceInputs":[1]}"""),
        ];

        var random = new Random(FuzzSeed.Value);
        var statuses = new SortedDictionary<int, int>();
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 1800; i++)
        {
            var (method, path, json) = seeds[i % seeds.Length];
            var body = JsonMutator.Mutate(json, random);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using var response = await Send(http, method, path, new StringContent(body, Encoding.UTF8, "application/json"));
            slowest = clock.Elapsed > slowest ? clock.Elapsed : slowest;
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            Assert.True(status < 500, $"{method} {path} answered {status} to {body}: {await response.Content.ReadAsStringAsync()}");
        }

        output.WriteLine($"statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}; slowest {slowest.TotalMilliseconds:F0} ms");
        foreach (var path in new[] { "/v1/admin/rollouts", "/v1/admin/pipeline", "/v1/admin/models/tiny/versions" })
        {
            using var response = await Send(http, HttpMethod.Get, path, null);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var verify = await Send(http, HttpMethod.Get, "/v1/admin/audit/verify", null);
        var chain = JsonDocument.Parse(await verify.Content.ReadAsStringAsync()).RootElement;
        Assert.True(chain.GetProperty("intact").GetBoolean(), chain.ToString());
    }

    [Fact]
    public async Task HostilePathAndQueryValues_AreAnsweredBelow500_AndEvery400SaysWhy()
    {
        // Every route's path values and query parameters given what a script or an attacker might put there: numbers
        // past their types, words for numbers, encoded dots and slashes, foreign and broken UTF-8, 5,000 characters.
        // An empty 400 (the framework's binding failure) once hid which value was wrong.
        await using var node = await StartGovernedAsync();
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl, Timeout = TimeSpan.FromSeconds(20) };
        string[] values =
        [
            "-1", "0", "18446744073709551616", "99999999999", "1e3", "NaN", "ten", " ", "%2e%2e", "a%2Fb", "%FF%FE", "%F0%9F%99%82",
            "a%20b", "tiny", "1", new string('x', 5000), "%22%3Cscript%3E", "abort", "2147483648",
        ];
        (HttpMethod Method, string Template)[] routes =
        [
            (HttpMethod.Get, "/v1/admin/models/{v}/versions"), (HttpMethod.Get, "/v1/admin/models/tiny/versions/{v}"),
            (HttpMethod.Get, "/v1/admin/models/tiny/versions/{v}/card?format={v}"), (HttpMethod.Get, "/v1/admin/models/{v}/versions/1/explanation"),
            (HttpMethod.Get, "/v1/admin/models/{v}/rounds"), (HttpMethod.Get, "/v1/admin/rollouts/{v}"), (HttpMethod.Get, "/v1/admin/pipeline/runs/{v}"),
            (HttpMethod.Get, "/v1/admin/drift?limit={v}"), (HttpMethod.Get, "/v1/admin/audit?subject={v}&limit={v}"),
            (HttpMethod.Get, "/v1/admin/security/events?limit={v}"), (HttpMethod.Get, "/v1/models/{v}/versions"), (HttpMethod.Get, "/v1/models/{v}/rounds"),
            (HttpMethod.Get, "/v1/artifacts/{v}"), (HttpMethod.Post, "/v1/admin/models/tiny/versions/{v}/approve"),
            (HttpMethod.Post, "/v1/admin/models/{v}/versions/1/reject"), (HttpMethod.Post, "/v1/admin/rollouts/{v}/{v}"),
            (HttpMethod.Post, "/v1/admin/devices/{v}/revoke"), (HttpMethod.Post, "/v1/admin/lines/{v}?set={v}"),
            (HttpMethod.Delete, "/v1/admin/lines/{v}?reason={v}"), (HttpMethod.Post, "/v1/admin/models/{v}/versions?reason={v}"),
        ];

        var statuses = new SortedDictionary<int, int>();
        foreach (var (method, template) in routes)
        {
            foreach (var value in values)
            {
                var path = template.Replace("{v}", value, StringComparison.Ordinal);
                using var response = await Send(http, method, path, method == HttpMethod.Post ? new StringContent("""{"reason":"fuzz"}""", Encoding.UTF8, "application/json") : null);
                var status = (int)response.StatusCode;
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                var text = await response.Content.ReadAsStringAsync();
                Assert.True(status < 500, $"{method} {path} answered {status}: {text}");
                if (status == 400) Assert.True(ErrorIn(text) is { Length: > 0 }, $"{method} {path} answered 400 without saying why: '{text}'");
            }
        }

        output.WriteLine($"statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        using var verify = await Send(http, HttpMethod.Get, "/v1/admin/audit/verify", null);
        Assert.True(JsonDocument.Parse(await verify.Content.ReadAsStringAsync()).RootElement.GetProperty("intact").GetBoolean());
    }

    /// <summary>A governed aggregator whose one token holds every role, so each request reaches its handler.</summary>
    private static async Task<AggregatorNode> StartGovernedAsync()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions
            {
                Mode = DeploymentMode.Governed,
                Identities = [new AdminIdentity("root", AdminIdentity.HashToken(Token), new HashSet<string> { AdminRoles.Approver, AdminRoles.Operator, AdminRoles.Viewer, AdminRoles.Scientist, AdminRoles.KeyAdmin })],
            },
        };
        var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    private static string? ErrorIn(string body)
    {
        try
        {
            return JsonDocument.Parse(body).RootElement.GetProperty("error").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }

    private static async Task<HttpResponseMessage> Send(HttpClient http, HttpMethod method, string path, HttpContent? content)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        return await http.SendAsync(request);
    }
}
