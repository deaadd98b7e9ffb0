using System.Net;
using System.Text;
using System.Text.Json;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Lines;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A fleet running two models over real MQTT with TLS: the first (a 4-feature, 3-class classifier) on every device,
/// a model line "kws" (6 features, 2 classes) on the devices its cohort names and whose memory budget fits it — each
/// model with its own registry, rounds and signed versions, every device on one connection, the local API addressing
/// each model by name; a line's signed statements are refused on another line, a forged or older catalogue changes
/// nothing, and a line taken out of the catalogue stops.
/// </summary>
[Collection(FleetCollection.Name)]
public class ModelLinesFleetTests
{
    private static readonly ModelSpec First = ModelSpec.Mlp(4, [6], 3);
    private static readonly ModelSpec Kws = ModelSpec.Mlp(6, [8], 2);

    private static float[] Row(Random random, int length) => [.. Enumerable.Range(0, length).Select(_ => (float)random.NextDouble())];

    /// <summary>
    /// A governed line beside a first model in auto mode: the line's version is served nowhere until it is approved and
    /// rolled out through the line's own governance, and its devices verify the line's signed plan ("{fleet}/{line}").
    /// </summary>
    [Fact]
    public async Task AGovernedLine_ServesItsVersionOnlyOnceItsOwnApprovalAndRolloutSaySo()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-lines-governed-" + Guid.NewGuid().ToString("N"));
        var kwsOptions = new AggregatorOptions
        {
            Fleet = "plant", Line = "kws", ModelName = "kws", Model = Kws, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg", "lines", "kws"),
            Trust = new EdgeMlOps.Aggregator.Trust.TrustOptions { RootKeyFile = Path.Combine(dir, "agg", "keys", "root.pk8") },
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Mode = EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed, RolloutCheckInterval = TimeSpan.FromMilliseconds(200) },
        };
        var options = new AggregatorOptions
        {
            Fleet = "plant", ModelName = "vibration", Model = First, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Lines = [new ModelLineOptions("kws", kwsOptions, new Dictionary<string, IReadOnlyList<string>>(), 64UL << 20)],
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);
        var kws = lines["kws"];
        await using var device = await LineDevice.StartAsync(node, Path.Combine(dir, "d0"), "pump-0", new Dictionary<string, string>());
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await device.Agent.WaitForModelAsync(1, cts.Token); // the first model, in auto mode
        await Eventually.Until(() => device.Lines["kws"] is { TrainingVersion: 1 }, "the line's v1 held for training only", 30);
        Assert.Equal(0UL, device.Lines["kws"]!.ModelVersion); // not approved, not rolled out: not served
        var notYet = await device.SendAsync(HttpMethod.Post, "/v1/models/kws/predict", $$"""{"features":[{{string.Join(',', new float[6])}}]}""");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notYet.Status);

        kws.Governance.Approve("alice", "kws", 1, "reviewed");
        await kws.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Version = 1, Stages = [1.0], Health = new() { WindowSeconds = 1 } }, CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await device.Lines["kws"]!.WaitForModelAsync(1, cts.Token);
        Assert.Equal(0L, device.Lines["kws"]!.Trust.Rejections); // the line's plan verified under the line's own trust
        Assert.NotNull(device.Lines["kws"]!.Rollout);
        var served = await device.SendAsync(HttpMethod.Post, "/v1/models/kws/predict", $$"""{"features":[{{string.Join(',', new float[6])}}]}""");
        Assert.Equal(HttpStatusCode.OK, served.Status);
        Assert.DoesNotContain(node.Registry.Versions("vibration"), v => v.Version > 1); // the first model's registry untouched
    }

    [Fact]
    public async Task TwoModels_EachWithItsOwnRoundsAndVersions_RunOnTheDevicesTheirCohortAndBudgetAdmit()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-lines-" + Guid.NewGuid().ToString("N"));
        var rounds = new RoundOptions { ClientsPerRound = 2, OverSelection = 1, MinDevices = 2, LocalEpochs = 2, BatchSize = 8, LearningRate = 0.1f, ReportDeadline = TimeSpan.FromSeconds(60) };
        var kwsOptions = new AggregatorOptions
        {
            Fleet = "plant", Line = "kws", ModelName = "kws", Model = Kws, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg", "lines", "kws"),
            Trust = new EdgeMlOps.Aggregator.Trust.TrustOptions { RootKeyFile = Path.Combine(dir, "agg", "keys", "root.pk8") }, Rounds = rounds,
        };
        var options = new AggregatorOptions
        {
            Fleet = "plant", ModelName = "vibration", Model = First, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"), Rounds = rounds,
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [new("alice", EdgeMlOps.Aggregator.Governance.AdminIdentity.HashToken("alice-token"), new HashSet<string> { "operator" })] },
            Lines = [new ModelLineOptions("kws", kwsOptions, new Dictionary<string, IReadOnlyList<string>> { ["mic"] = ["yes"] }, 64UL << 20)],
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var lines = await ModelLineHost.StartAsync(node, NullLoggerFactory.Instance, CancellationToken.None);
        var kws = lines["kws"];
        Assert.Equal("plant/kws", kws.Keys.Bundle.Fleet); // the line's keys, certified by the fleet's root for the line alone
        Assert.Equal(node.Keys.RootPublicKey, kws.Keys.RootPublicKey);
        Assert.NotEqual(node.Keys.SigningKeyId, kws.Keys.SigningKeyId);
        Assert.NotEqual(node.ArtifactBaseUrl, kws.ArtifactBaseUrl); // its own API and console

        // The first model's console names the line and where its own console is.
        using (var admin = new HttpClient { BaseAddress = node.ArtifactBaseUrl })
        {
            admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "alice-token");
            using var me = JsonDocument.Parse(await admin.GetStringAsync("/v1/admin/whoami"));
            var line = Assert.Single(me.RootElement.GetProperty("lines").EnumerateArray());
            Assert.Equal("kws", line.GetProperty("name").GetString());

            // The fleet's API serves every line's artifacts too (content-addressed): a device or gateway told one
            // artifact address (Agent:ArtifactBaseUrl, Edge:UpstreamApi) fetches every model it runs there.
            var lineArtifacts = Directory.EnumerateFiles(Path.Combine(kwsOptions.DataDirectory, "artifacts"), "*", SearchOption.AllDirectories).ToList();
            Assert.NotEmpty(lineArtifacts);
            foreach (var file in lineArtifacts)
            {
                var sha = Path.GetFileName(file);
                Assert.False(File.Exists(Path.Combine(options.DataDirectory, "artifacts", sha[..2], sha)), "the line's artifact is not also the first model's");
                var served = await admin.GetByteArrayAsync($"/v1/artifacts/{sha}");
                Assert.Equal(sha, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(served)));
            }

            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/artifacts/{new string('a', 64)}")).StatusCode);
        }

        var mic = new Dictionary<string, string> { ["mic"] = "yes" };
        await using var d0 = await LineDevice.StartAsync(node, Path.Combine(dir, "d0"), "pump-0", mic);
        await using var d1 = await LineDevice.StartAsync(node, Path.Combine(dir, "d1"), "pump-1", mic);
        await using var small = await LineDevice.StartAsync(node, Path.Combine(dir, "d2"), "pump-2", mic, budgetMb: 32);
        await using var deaf = await LineDevice.StartAsync(node, Path.Combine(dir, "d3"), "pump-3", new Dictionary<string, string> { ["mic"] = "no" });
        LineDevice[] all = [d0, d1, small, deaf];
        foreach (var d in all)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await d.Agent.WaitForModelAsync(1, cts.Token);
            await Eventually.Until(() => d.Lines.States.Count == 1, $"{d.Agent.DeviceId} holds the catalogue", 30);
        }

        foreach (var d in new[] { d0, d1 })
        {
            await Eventually.Until(() => d.Lines["kws"] is not null, "the line started", 30);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await d.Lines["kws"]!.WaitForModelAsync(1, cts.Token);
        }

        Assert.Null(small.Lines["kws"]);
        Assert.Contains("needs 64 MiB; 32 MiB of the 32 MiB budget (Agent:MemoryBudgetMb) left", small.Lines.States[0].Notice, StringComparison.Ordinal);
        Assert.Null(deaf.Lines["kws"]);
        Assert.Contains("not in its cohort (mic=yes)", deaf.Lines.States[0].Notice, StringComparison.Ordinal);

        // The local API addresses each model by name; a model the device does not run says why.
        var random = new Random(5);
        var both = await d0.SendAsync(HttpMethod.Get, "/v1/models");
        Assert.Equal(["vibration", "kws"], both.Body.GetProperty("models").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
        var answer = await d0.SendAsync(HttpMethod.Post, "/v1/models/kws/predict", $$"""{"features":[{{string.Join(',', Row(random, 6))}}]}""");
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(2, answer.Body.GetProperty("probabilities").GetArrayLength());
        var first = await d0.SendAsync(HttpMethod.Post, "/v1/models/vibration/predict", $$"""{"features":[{{string.Join(',', Row(random, 4))}}]}""");
        Assert.Equal(3, first.Body.GetProperty("probabilities").GetArrayLength());
        Assert.Equal(3, (await d0.SendAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', Row(random, 4))}}]}""")).Body.GetProperty("probabilities").GetArrayLength()); // unprefixed: the first model
        var notHere = await deaf.SendAsync(HttpMethod.Post, "/v1/models/kws/predict", $$"""{"features":[{{string.Join(',', Row(random, 6))}}]}""");
        Assert.Equal(HttpStatusCode.NotFound, notHere.Status);
        Assert.Contains("model 'kws' does not run on this device: not in its cohort", notHere.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Each model's round trains on its own devices' samples and makes its own version; the other model is untouched.
        foreach (var d in new[] { d0, d1 })
        {
            d.Lines["kws"]!.Feedback([.. Enumerable.Range(0, 40).Select(i => (Row(random, 6), (long)(i % 2)))]);
            await d.Lines["kws"]!.PublishStatusAsync(CancellationToken.None);
        }

        await Eventually.Until(() => kws.Devices.All.Count(s => s.SampleCount > 0) == 2, "the line's devices report their samples", 30);
        var report = await kws.RunRoundAsync(CancellationToken.None);
        Assert.Equal(RoundStatus.Completed, report.Status);
        Assert.Equal(2, report.Contributors);
        Assert.Equal(2UL, kws.CurrentVersion.Version);
        Assert.Equal(1UL, node.CurrentVersion.Version);
        foreach (var d in new[] { d0, d1 })
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await d.Lines["kws"]!.WaitForModelAsync(2, cts.Token);
            Assert.Equal(1UL, d.Agent.ModelVersion);
        }

        // A device whose connection is lost is lost for every model on it: the first model's Last Will tells the line too.
        await Eventually.Until(() => kws.Devices.All.Any(s => s.DeviceId == "pump-1" && s.State == DeviceState.Online), "pump-1 online on the line", 20);
        d1.Agent.Crash();
        await Eventually.Until(() => node.Devices.All.Single(s => s.DeviceId == "pump-1").State == DeviceState.Lost, "the first model hears the device's Last Will", 20);
        await Eventually.Until(() => kws.Devices.All.Single(s => s.DeviceId == "pump-1").State == DeviceState.Lost, "the line hears the device's Last Will", 20);

        // The first model's signed announcement replayed on the line's topic is another fleet's statement there: refused.
        await using var relay = node.Channels.Create(new FleetChannelOptions("aggregator-test-relay"), NullLoggerFactory.Instance);
        await relay.ConnectAsync(CancellationToken.None);
        var firstModel = new Topics("plant");
        var retained = new TaskCompletionSource<byte[]>();
        relay.MessageReceived = (topic, payload) =>
        {
            if (topic == firstModel.Model) retained.TrySetResult(System.Buffers.BuffersExtensions.ToArray(payload));
            return Task.CompletedTask;
        };
        await relay.SubscribeAsync([firstModel.Model], CancellationToken.None);
        var rejections = d0.Lines["kws"]!.Trust.Rejections;
        await relay.PublishAsync(firstModel.ForLine("kws").Model, await retained.Task.WaitAsync(TimeSpan.FromSeconds(20)), retain: false, CancellationToken.None);
        await Eventually.Until(() => d0.Lines["kws"]!.Trust.Rejections > rejections, "the replayed statement refused", 20);
        Assert.Contains("is for fleet 'plant', device is in 'plant/kws'", d0.Lines["kws"]!.Trust.LastRejection, StringComparison.Ordinal);
        Assert.Equal(2UL, d0.Lines["kws"]!.ModelVersion);

        // A catalogue signed by a key the fleet never certified changes nothing; the fleet's own, without the line, stops it.
        var refused = d0.Lines.Refused;
        using var stranger = SigningKeyPair.Generate();
        var forged = Signatures.Sign(new ModelCatalogue { Fleet = "plant", IssuedUnixMs = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds() }, stranger);
        await relay.PublishAsync(firstModel.Catalogue, forged.ToByteArray(), retain: false, CancellationToken.None);
        await Eventually.Until(() => d0.Lines.Refused > refused, "the forged catalogue refused", 20);
        Assert.NotNull(d0.Lines["kws"]);

        // Bytes that are no catalogue, and the fleet's own catalogue from before the one held, change nothing either.
        refused = d0.Lines.Refused;
        await relay.PublishAsync(firstModel.Catalogue, [0x0A, 0x7F, 0x01], retain: false, CancellationToken.None);
        await relay.PublishAsync(firstModel.Catalogue, node.Keys.Sign(new ModelCatalogue { Fleet = "plant", IssuedUnixMs = 1 }).ToByteArray(), retain: false, CancellationToken.None);
        await Eventually.Until(() => d0.Lines.Refused >= refused + 2, "the malformed and the older catalogue refused", 20);
        Assert.NotNull(d0.Lines["kws"]);
        var unknown = await d0.SendAsync(HttpMethod.Post, "/v1/models/no-such/predict", "{}");
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Contains("no model 'no-such' on this device (it runs: vibration, kws)", unknown.Body.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await d0.SendAsync(HttpMethod.Get, "/v1/models/kws")).Status); // a model, no endpoint

        var empty = node.Keys.Sign(new ModelCatalogue { Fleet = "plant", IssuedUnixMs = DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeMilliseconds() });
        await relay.PublishAsync(firstModel.Catalogue, empty.ToByteArray(), retain: false, CancellationToken.None);
        await Eventually.Until(() => d0.Lines["kws"] is null, "the line stopped", 20);
        var gone = await d0.SendAsync(HttpMethod.Post, "/v1/models/kws/predict", $$"""{"features":[{{string.Join(',', Row(random, 6))}}]}""");
        Assert.Equal(HttpStatusCode.NotFound, gone.Status);
        Assert.Equal(HttpStatusCode.OK, (await d0.SendAsync(HttpMethod.Post, "/v1/predict", $$"""{"features":[{{string.Join(',', Row(random, 4))}}]}""")).Status); // the first model serves on
        Assert.True(Directory.Exists(Path.Combine(dir, "d0", "lines", "kws", "models")), "a stopped line's data stays for when it comes back");

        // A device revoked through a line's API is revoked for the fleet: dropped from the broker the first model runs.
        await kws.RevokeDeviceAsync("pump-3", "stolen", "alice");
        await Eventually.Until(() => !deaf.Agent.IsConnected, "the revoked device dropped", 20);
        await Task.Delay(1500);
        Assert.False(deaf.Agent.IsConnected); // and not let back in
        Assert.True(d0.Agent.IsConnected);
    }
}
