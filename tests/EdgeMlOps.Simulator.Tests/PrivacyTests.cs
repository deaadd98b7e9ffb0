using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>Raw inputs and labels never leave the device: checked on everything the device publishes.</summary>
[Collection(FleetCollection.Name)]
public class PrivacyTests
{
    [Fact]
    public async Task EverythingADevicePublishes_IsFreeOfItsRawSamples()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-privacy-" + Guid.NewGuid().ToString("N"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity.Admin] },
            Fleet = "priv", ModelName = "m", Model = ModelSpecText.Parse("mlp-8-6-3"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, LocalEpochs = 2, BatchSize = 4, ReportDeadline = TimeSpan.FromSeconds(30) },
        });
        await node.StartAsync(CancellationToken.None);

        var published = new ConcurrentBag<(string Topic, byte[] Payload)>();
        await using var sniffer = new MqttTransport(new MqttTransportOptions("aggregator-sniffer", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls })
        {
            MessageReceived = (topic, payload) =>
            {
                published.Add((topic, System.Buffers.BuffersExtensions.ToArray(payload)));
                return Task.CompletedTask;
            },
        };
        await sniffer.SubscribeAsync(["edgemlops/v1/priv/devices/#"], CancellationToken.None);
        await sniffer.ConnectAsync(CancellationToken.None);

        // Distinctive raw values: any copy of them on the wire would be found byte for byte.
        var random = new Random(9);
        var samples = Enumerable.Range(0, 24).Select(i => (Enumerable.Range(0, 8).Select(_ => (float)(1000 + random.NextDouble())).ToArray(), (long)(i % 3))).ToArray();
        await using var agent = new DeviceAgent(
            new AgentOptions { DeviceId = "dev-p", Fleet = "priv", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [node.Keys.RootPublicKey] },
            new AgentDependencies
            {
                Store = new SampleStore(Path.Combine(dir, "dev", "agent.db"), 100, 100),
                Outbox = new Outbox(Path.Combine(dir, "dev", "outbox.db"), 10),
                Models = new ModelStore(Path.Combine(dir, "dev", "models")),
                Http = new HttpClient(),
            });
        agent.Feedback(samples);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);
        var prediction = agent.Predict(samples[0].Item1);
        agent.Feedback(prediction.PredictionId, 2);
        await Eventually.Until(() => node.Devices.TryGet("dev-p", out var d) && d.SampleCount == 25, "status with 25 samples");
        Assert.Equal(RoundStatus.Completed, (await node.RunRoundAsync(CancellationToken.None)).Status);
        agent.FlushProfile();
        await Eventually.Until(() => published.Any(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal)), "the window profile");
        Assert.Equal(1, agent.SketchesWithheld);
        await agent.StopAsync();

        // The device's goodbye status carries the count; operators see it fleet-wide on /metrics.
        await Eventually.Until(() => node.Devices.TryGet("dev-p", out var d) && d.SketchesWithheld == 1, "the withheld-sketch count in the status");
        using (var http = Viewer.Client(node.ArtifactBaseUrl))
        {
            Assert.Contains("edgemlops_device_sketches_withheld_total 1\n", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        }

        await Task.Delay(200);

        // The task topic is the aggregator writing to the device; everything else under the device is the device.
        var fromDevice = published.Where(m => m.Topic.StartsWith("edgemlops/v1/priv/devices/dev-p/", StringComparison.Ordinal) && !m.Topic.EndsWith("/task", StringComparison.Ordinal)).ToArray();
        Assert.Contains(fromDevice, m => m.Topic.EndsWith("/update", StringComparison.Ordinal));
        Assert.Contains(fromDevice, m => m.Topic.EndsWith("/status", StringComparison.Ordinal));
        foreach (var (topic, payload) in fromDevice)
        {
            foreach (var (features, _) in samples)
            {
                // Any two consecutive raw feature values, as they would be encoded.
                for (var i = 0; i + 1 < features.Length; i++)
                {
                    var needle = MemoryMarshal.AsBytes(features.AsSpan(i, 2)).ToArray();
                    Assert.True(payload.AsSpan().IndexOf(needle) < 0, $"raw feature bytes found in {topic}");
                }
            }

            switch (topic[(topic.LastIndexOf('/') + 1)..])
            {
                case "update":
                    var update = ModelUpdate.Parser.ParseFrom(payload);
                    Assert.Equal(ParameterLayout.For(ModelSpecText.Parse("mlp-8-6-3")).Tensors.Select(t => t.Name), update.Delta.Select(t => t.Name));
                    Assert.Equal(25UL, update.SampleCount); // a count, not the samples
                    // The training sketches passed the device's policy: no item stands for a single value, and the
                    // published extremes are retained items, not the exact minimum and maximum.
                    Assert.Equal(8, update.TrainingProfile.Features.Count);
                    Assert.All(update.TrainingProfile.Features, f =>
                    {
                        Assert.Equal(25UL, f.Count);
                        Assert.Equal(0U, f.Quantiles.LevelSizes[0]);
                        Assert.Contains(f.Quantiles.Min, f.Quantiles.Items);
                        Assert.Contains(f.Quantiles.Max, f.Quantiles.Items);
                        Assert.True(f.Quantiles.Items.Count <= 13, $"{f.Quantiles.Items.Count} items for 25 values");
                    });
                    break;
                case "profile":
                    // One prediction is under the 20-row floor: its counts leave, its inputs' sketches do not.
                    var profile = ProfileReport.Parser.ParseFrom(payload);
                    Assert.Equal(1UL, profile.Predictions);
                    Assert.All(profile.Features, f => Assert.Equal(0UL, f.Count));
                    break;
                case "status":
                    var status = DeviceStatus.Parser.ParseFrom(payload);
                    Assert.True(status.SampleCount is 0 or 24 or 25);
                    break;
                default:
                    Assert.Fail($"unexpected device topic {topic}");
                    break;
            }
        }
    }
}
