using System.Text.Json;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Samples the model's front end refuses, seen fleet-wide: PyTorch's frame classifier behind PyTorch's trimming
/// (<c>export_trimming_frontend.py</c>), declared to make 3 to 8 frames. A real agent refuses a request whose scan keeps
/// 2 frames and leaves the stored scans that keep 2 out of a round's training; its status carries the count, and the
/// aggregator shows it in the device list and on <c>/metrics</c>.
/// </summary>
[Collection(FleetCollection.Name)]
public class RefusedSamplesFleetTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public async Task SamplesADevicesFrontEndRefuses_AreAFleetMetric()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-refused-" + Guid.NewGuid().ToString("N"));
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_digit_frames.onnx"), ["Aggregator:ModelInterface:Trainable"] = "all",
            ["Aggregator:ModelInterface:Preprocess"] = Fixture("pytorch_frames_trimming.onnx"), ["Aggregator:ModelInterface:AxisLengths"] = "readings=6..8,frames=3..8",
        }).Build()) with
        {
            Fleet = "scans", ModelName = "digits", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity.Admin] },
            Rounds = new RoundOptions { ClientsPerRound = 1, OverSelection = 1, LocalEpochs = 1, BatchSize = 4, ReportDeadline = TimeSpan.FromSeconds(30) },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var device = await JoinedAgent.StartAsync(node, dir, "scanner-1");

        // Six scans of PyTorch's reference: 0, 2 and 4 keep 3 frames or more, 1, 3 and 5 keep 2.
        var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Fixture("trimming_frontend_expected.json"))).RootElement;
        var scans = expected.GetProperty("scans").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var digits = expected.GetProperty("digits").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        float[] Scan(int i) => scans[(i * 64)..((i + 1) * 64)];
        device.Agent.Feedback([.. Enumerable.Range(0, 6).Select(i => (Scan(i), digits[i]))]); // a store filled before the model could judge them
        device.Agent.Predict(Scan(0));
        Assert.Throws<SampleRefusedException>(() => device.Agent.Predict(Scan(1)));

        await Eventually.Until(() => node.Devices.TryGet("scanner-1", out var d) && d.SampleCount == 6, "status with 6 samples");
        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal((RoundStatus.Completed, 3L), (round.Status, round.Samples)); // trained on the three it takes

        await device.Agent.PublishStatusAsync(CancellationToken.None);
        await Eventually.Until(() => node.Devices.TryGet("scanner-1", out var d) && d.SamplesRefused == 4, "the refused count in the status (1 request, 3 stored scans)");
        using var http = Viewer.Client(node.ArtifactBaseUrl);
        Assert.Contains("edgemlops_device_samples_refused_total 4\n", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        var listed = JsonDocument.Parse(await http.GetStringAsync("/v1/fleet/devices")).RootElement.EnumerateArray().Single();
        Assert.Equal(("scanner-1", 4), (listed.GetProperty("deviceId").GetString(), listed.GetProperty("samplesRefused").GetInt32()));

        // Federated permutation importance on the device's scans: measured on the three its front end takes (a scan a
        // shuffled input makes it refuse is not right); the device answers rather than failing its evaluation.
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await device.Agent.WaitForModelAsync(round.NewVersion!.Value, cts.Token);
        var evaluation = await node.RunFederatedEvaluationAsync(1, CancellationToken.None, importanceInputs: [3, 20]);
        Assert.Equal((1, 3L), (evaluation.Reported, evaluation.Samples)); // scored on the three it takes
        Assert.Equal(3L, evaluation.Importance!.Rows);
        Assert.Equal(2, evaluation.Importance.Importance.Count);
    }
}
