using System.Security.Cryptography;
using EdgeMlOps.Aggregator;
using Microsoft.Extensions.Configuration;
using Xunit.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// The fleet running a model it did not generate: a CNN exported by PyTorch (pre-trained on digits 0–4 only) served
/// by real agents as the uploaded bytes and fine-tuned over MQTT on all ten digits through the train step the
/// aggregator generated from it.
/// </summary>
[Collection(FleetCollection.Name)]
public class UploadedModelFleetTests(ITestOutputHelper output)
{
    private static readonly string Cnn = Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx");

    [Fact]
    public async Task APyTorchCnn_IsServedAsUploaded_AndTheFleetFineTunesItsHead_OnAllTenDigits()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "mnist", "--model-file", Cnn, "--trainable", "last:1", "--devices", "10", "--rounds", "3", "--fraction", "1",
            "--local-epochs", "1", "--batch", "16", "--lr", "0.1", "--test-size", "2000", "--seed", "1", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} accuracy {r.Accuracy:F3}, train loss {r.TrainLoss:F3}, {r.BytesUp / Math.Max(1, r.Participants)} bytes up per device");
        output.WriteLine($"uploaded file: accuracy {result.Initial.Accuracy:F3}");

        // Version 1 is the file itself, byte for byte.
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Cnn))), result.Initial.InferenceSha256);
        Assert.InRange(result.Initial.Accuracy, 0.35, 0.65); // it knows half the digits
        Assert.All(result.Rounds, r =>
        {
            Assert.Equal("Completed", r.Status);
            Assert.Equal(10, r.Participants);
            Assert.Equal(0, r.Rejected);
            // Only the head travels: 576×10 + 10 floats, not the backbone's convolutions.
            Assert.InRange(r.BytesUp / r.Participants, 4 * 5770, 4 * 5770 + 32 * 1024);
        });
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.2, $"fine-tuned to {result.FinalAccuracy:F3} from {result.Initial.Accuracy:F3}");
        Assert.Equal(1, result.SharedInferenceSessions);
    }

    /// <summary>
    /// A binary classifier exported by PyTorch with one sigmoid score per row (as anomaly and wake-word detectors are):
    /// served by every agent as the uploaded bytes, as two classes, and fine-tuned by the fleet with binary
    /// cross-entropy on the devices' 0/1 labels through the train step generated from it.
    /// </summary>
    [Fact]
    public async Task APyTorchBinaryDetector_WithOneSigmoidScore_IsServedAsUploaded_AndTheFleetFineTunesIt()
    {
        var detector = Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_binary_detector.onnx");
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "synthetic", "--synthetic-dim", "8", "--synthetic-classes", "2", "--model-file", detector, "--trainable", "all",
            "--devices", "10", "--rounds", "3", "--fraction", "1", "--local-epochs", "1", "--batch", "16", "--lr", "0.1", "--seed", "1",
            "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} accuracy {r.Accuracy:F3}, train loss {r.TrainLoss:F3}");
        output.WriteLine($"uploaded file: accuracy {result.Initial.Accuracy:F3}");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(detector))), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r =>
        {
            Assert.Equal("Completed", r.Status);
            Assert.Equal(10, r.Participants);
            Assert.Equal(0, r.Rejected);
        });
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.2, $"fine-tuned to {result.FinalAccuracy:F3} from {result.Initial.Accuracy:F3}");
        Assert.True(result.Rounds[^1].TrainLoss < result.Rounds[0].TrainLoss);
    }

    /// <summary>Robust rules and update encodings work on the uploaded model's trained tensors as on any named tensors.</summary>
    [Theory]
    [InlineData("--strategy", "fedmedian", 4 * 5770)]
    [InlineData("--compression", "int8", 5770)]
    public async Task RobustRulesAndCompression_FineTuneTheUploadedCnn_Unchanged(string option, string value, int payloadBytes)
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "mnist", "--model-file", Cnn, "--devices", "10", "--rounds", "2", "--fraction", "1", option, value,
            "--local-epochs", "1", "--batch", "16", "--lr", "0.1", "--test-size", "2000", "--seed", "3", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"{option} {value}: {result.Initial.Accuracy:F3} → {string.Join(" → ", result.Rounds.Select(r => r.Accuracy.ToString("F3")))}, {result.Rounds[0].BytesUp / 10} bytes up per device");
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        Assert.InRange(result.Rounds[0].BytesUp / 10, payloadBytes, payloadBytes + 32 * 1024);
        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.2, $"fine-tuned to {result.FinalAccuracy:F3} from {result.Initial.Accuracy:F3}");
    }

    [Fact]
    public async Task AScikitLearnForest_IsServedByEveryAgent_AsUploaded_AndNoRoundTrainsIt()
    {
        var forest = Path.Combine(AppContext.BaseDirectory, "Fixtures", "sklearn_forest_wine.onnx");
        var result = await new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "synthetic", "--synthetic-dim", "13", "--synthetic-classes", "3", "--model-file", forest, "--trainable", "none",
            "--devices", "5", "--rounds", "2", "--seed", "2", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(forest))), result.Initial.InferenceSha256);
        Assert.Equal(5, result.DevicesOnline); // every agent verified the signed manifest and installed the file
        Assert.Equal(1, result.SharedInferenceSessions);
        Assert.Empty(result.Rounds); // the first round stops: nothing to train
    }

    /// <summary>
    /// A forest the fleet serves without training, retrained in scikit-learn and registered as the next version: the
    /// agent installs the new file byte for byte and answers with scikit-learn's new probabilities.
    /// </summary>
    [Fact]
    public async Task AServedForest_RetrainedElsewhere_ReachesTheAgentAsItsNewFile_AndAnswersAsScikitLearn()
    {
        var fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-forest-" + Guid.NewGuid().ToString("N"));
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Path.Combine(fixtures, "sklearn_forest_wine.onnx"), ["Aggregator:ModelInterface:Trainable"] = "none",
        }).Build()) with { Fleet = "wine", ModelName = "cellar", EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg") };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        await using var device = await JoinedAgent.StartAsync(node, dir, "cellar-3");

        using var expected = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(fixtures, "sklearn_forest_expected.json")));
        var rows = expected.RootElement.GetProperty("features").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        void AnswersAs(string probabilitiesKey, string predictedKey, ulong version)
        {
            var probabilities = expected.RootElement.GetProperty(probabilitiesKey).EnumerateArray().Select(e => e.GetSingle()).ToArray();
            var predicted = expected.RootElement.GetProperty(predictedKey).EnumerateArray().Select(e => e.GetInt64()).ToArray();
            for (var row = 0; row < predicted.Length; row++)
            {
                var answer = device.Agent.Predict(rows.AsSpan(row * 13, 13).ToArray());
                Assert.Equal(version, answer.ModelVersion);
                for (var k = 0; k < 3; k++) Assert.Equal(probabilities[row * 3 + k], answer.Probabilities[k], 5);
                Assert.Equal(predicted[row], answer.Label);
            }
        }

        AnswersAs("probabilities", "predicted", 1);
        var retrained = await File.ReadAllBytesAsync(Path.Combine(fixtures, "sklearn_forest_wine_v2.onnx"));
        var v2 = await node.RegisterFileAsync(retrained, "dana", "retrained with 16 trees", CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await device.Agent.WaitForModelAsync(v2.Version, cts.Token);
        Assert.Equal(retrained, device.Models.ReadBlob(device.Agent.CurrentModel!.Inference.Sha256));
        AnswersAs("probabilities_v2", "predicted_v2", 2);
    }

    [Fact]
    public async Task AModelFileThatDoesNotFitTheData_IsRefusedSayingWhy()
    {
        var mismatch = await Assert.ThrowsAsync<ModelFileException>(() => new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "synthetic", "--synthetic-dim", "20", "--model-file", Cnn, "--devices", "2", "--rounds", "1", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None));
        Assert.Contains("takes 784 floats into 10 classes; synthetic has 20 into 5", mismatch.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAsync<ModelFileException>(() => new SimulationRunner(SimulationOptions.Parse([
            "--dataset", "synthetic", "--model-file", "no-such.onnx", "--devices", "2", "--rounds", "1", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None));
        Assert.Contains("--model-file no-such.onnx:", missing.Message, StringComparison.Ordinal);
    }
}
