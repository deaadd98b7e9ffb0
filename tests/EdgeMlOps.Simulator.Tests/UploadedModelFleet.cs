using EdgeMlOps.Shared.Hashing;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A model file made by other people's tools, uploaded as it is and fine-tuned in all its tensors (or the
/// <c>--trainable</c> set the options name) by 10 real agents over
/// MQTT (every device in every round, 5 local epochs, batch 16, seed 1), scored by the aggregator on 397 held-out rows.
/// Checks what every such run must show — the served file is the uploaded one, every round completes with all 10
/// devices and no update refused — and writes the curve.
/// </summary>
internal static class UploadedModelFleet
{
    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <param name="metric">What the held-out score is, for the written curve (accuracy, R²).</param>
    /// <param name="options">The dataset and anything else the run needs (simulator options).</param>
    public static async Task<SimulationResult> FineTuneAsync(Xunit.Abstractions.ITestOutputHelper output, string model, int rounds, string learningRate, string metric, params string[] options)
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([
            .. options, "--model-file", model, .. options.Contains("--trainable") ? Array.Empty<string>() : ["--trainable", "all"], "--test-size", "397", "--devices", "10", "--rounds", rounds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--fraction", "1", "--local-epochs", "5", "--batch", "16", "--lr", learningRate, "--seed", "1", "--out", "-", "--experiments", "off"])).RunAsync(CancellationToken.None);

        output.WriteLine($"uploaded file: {metric} {result.Initial.Accuracy:F4}");
        foreach (var r in result.Rounds) output.WriteLine($"round {r.Round}: v{r.Version} {metric} {r.Accuracy:F4}, loss {r.Loss:F4}");
        Assert.Equal(ContentHash.Sha256Hex(await File.ReadAllBytesAsync(model)), result.Initial.InferenceSha256);
        Assert.All(result.Rounds, r => Assert.Equal(("Completed", 10, 0L), (r.Status, r.Participants, r.Rejected)));
        return result;
    }

    /// <summary>As <see cref="FineTuneAsync"/> on a csv dataset of <paramref name="lines"/>, written to a temporary file for the run.</summary>
    public static async Task<SimulationResult> FineTuneOnCsvAsync(Xunit.Abstractions.ITestOutputHelper output, string model, IEnumerable<string> lines, int rounds, string learningRate, string metric, params string[] options)
    {
        var csv = Path.Combine(Path.GetTempPath(), $"edgemlops-dataset-{Guid.NewGuid():N}.csv");
        await File.WriteAllLinesAsync(csv, lines);
        try
        {
            return await FineTuneAsync(output, model, rounds, learningRate, metric, ["--dataset", "csv:" + csv, .. options]);
        }
        finally
        {
            File.Delete(csv);
        }
    }
}
