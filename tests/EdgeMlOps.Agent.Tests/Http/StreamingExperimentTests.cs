using System.Globalization;
using System.Net;
using EdgeMlOps.Agent.Experiments;
using EdgeMlOps.Agent.Tests.Shadow;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Rollouts;

using static EdgeMlOps.Agent.Tests.Http.LocalApiClient;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// An A/B test of a streaming model (PyTorch's GRU digit scanner) on a real agent's local API: a session belongs to
/// one arm, and each arm's version carries its own state through it — so every answer is what that version answers
/// serving the session alone; ground truth counts in the arm that answered, and its row keeps the state of the
/// version that made it (what that version trains on).
/// </summary>
public sealed class StreamingExperimentTests
{
    [Fact]
    public async Task EachSessionStaysInOneArm_AndEachArmsVersionAnswersFromItsOwnState()
    {
        const int Sessions = 16;
        var other = StreamingDigits.OtherVersion();
        using var versionA = StreamingDigits.Load(StreamingDigits.Bytes);
        using var versionB = StreamingDigits.Load(other);
        var alone = new Dictionary<ulong, List<(int Session, int Call, float[] Row, PredictionBatch Answer)>>
        {
            [1] = StreamingDigits.Chains(versionA, Sessions),
            [2] = StreamingDigits.Chains(versionB, Sessions),
        };

        await using var serving = await ServingAgent.StartAsync(StreamingDigits.Model, StreamingDigits.Bytes);
        var cache = new SharedCache<InferenceModel>();
        serving.Device.Agent.RolloutControl.Experiment.Begin(new ExperimentSession("r1", versionA: 1, versionB: 2, split: 0.5, await cache.AcquireAsync("v2", () => Task.FromResult(StreamingDigits.Load(other)))));

        var arm = new ulong[Sessions];
        for (var call = 0; call < StreamingDigits.Calls; call++)
        {
            for (var s = 0; s < Sessions; s++)
            {
                var answer = await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/predict", $$"""{"inputs":{"rows":[{{Numbers(StreamingDigits.Rows(s, call))}}]},"session":"scan-{{s}}"}""");
                Assert.Equal(HttpStatusCode.OK, answer.Status);
                var version = answer.Body.GetProperty("modelVersion").GetUInt64();
                if (call == 0) arm[s] = version;
                Assert.Equal(arm[s], version); // the whole session in one arm
                Assert.Equal(RolloutMembership.ToArmB("r1", $"scan-{s}", 0.5) ? 2UL : 1UL, version); // the arm the session id hashes to
                Assert.Equal(call == 0, answer.Body.GetProperty("stateReset").GetBoolean());
                var expected = alone[version][(call * Sessions) + s].Answer.Probabilities;
                var probabilities = answer.Body.GetProperty("probabilities").EnumerateArray().Select(p => p.GetSingle()).ToArray();
                Assert.All(expected.Zip(probabilities), p => Assert.Equal(p.First, p.Second, 1e-5));
                if (call == StreamingDigits.Calls - 1)
                {
                    var feedback = $$"""{"predictionId":"{{answer.Body.GetProperty("predictionId").GetString()}}","label":{{StreamingDigits.Labels[s % StreamingDigits.Scans]}}}""";
                    Assert.Equal(HttpStatusCode.OK, (await serving.Http.SendJsonAsync(HttpMethod.Post, "/v1/feedback", feedback)).Status);
                }
            }
        }

        var inB = arm.Count(v => v == 2);
        Assert.InRange(inB, 1, Sessions - 1); // both arms took sessions
        var report = serving.Device.Agent.Experiment!;
        Assert.Equal((ulong)(Sessions - inB) * StreamingDigits.Calls, report.A.Served);
        Assert.Equal((ulong)inB * StreamingDigits.Calls, report.B.Served);
        Assert.Equal((ulong)(Sessions - inB), report.A.Labelled);
        Assert.Equal((ulong)inB, report.B.Labelled);

        // Each labelled row keeps the state of the version that answered it: B's rows hold B's state.
        var rowsOfB = serving.Device.Store.LoadSamples(32, stateVersion: 2);
        Assert.Equal(inB, rowsOfB.Labels.Length);
        var lastCalls = Enumerable.Range(0, Sessions).Where(s => arm[s] == 2).Select(s => alone[2][((StreamingDigits.Calls - 1) * Sessions) + s].Row).ToList();
        for (var r = 0; r < inB; r++)
        {
            var row = rowsOfB.Features.AsSpan(r * 32, 32).ToArray();
            Assert.Contains(lastCalls, expected => expected.Zip(row).All(p => Math.Abs(p.First - p.Second) < 1e-5));
        }
    }
}
