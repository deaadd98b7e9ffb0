using System.Globalization;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Explanations;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Explanations;

/// <summary>
/// A version behind a front end whose frame counts the data decides (PyTorch's trimming, declared
/// <c>readings=6..8,frames=3..8</c>), explained on held-out raw scans of which the front end refuses some (they keep 1
/// or 2 frames), as are some scans a permutation or a dependence grid makes: explained on the scans it answers, each
/// refusal counted as not answered, never a failure of the card or of the explanation API.
/// </summary>
public sealed class DataDecidedExplanationTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    /// <summary>The first 200 digit scans as a 12-bit sensor's raw counts (each column's gain and dark level, as export_frames_frontends.py defines them), and their digits.</summary>
    private static (float[] Scans, long[] Digits) RawScans()
    {
        var rows = File.ReadLines(Fixture("digits_tokens.csv")).Take(200).Select(l => l.Split(',')).ToArray();
        float[] scans = [.. rows.SelectMany(cells => cells[..64].Select((v, i) => (float.Parse(v, CultureInfo.InvariantCulture) * (200 + (10 * (i % 8)))) + 90 + (5 * (i % 8))))];
        return (scans, [.. rows.Select(cells => long.Parse(cells[64], CultureInfo.InvariantCulture))]);
    }

    /// <summary>PyTorch's frame classifier and trimming, and their interface declared <c>readings=6..8,frames=3..8</c>.</summary>
    private static (byte[] Frames, byte[] Trimming, Shared.Models.ModelSpec Spec) Trimmed()
    {
        var frames = File.ReadAllBytes(Fixture("pytorch_digit_frames.onnx"));
        var trimming = File.ReadAllBytes(Fixture("pytorch_frames_trimming.onnx"));
        const string Pins = "readings=6..8,frames=3..8";
        var spec = Shared.Onnx.UploadedClassifier.Open(frames, new Shared.Onnx.UploadedClassifierOptions("all")
        {
            Preprocess = trimming, AxisLengths = Shared.Onnx.AxisLengths.Parse(Pins), Varying = Shared.Onnx.AxisLengths.Range(Pins), Made = Shared.Onnx.AxisLengths.MadeRange(Pins),
        }).Spec;
        return (frames, trimming, spec);
    }

    [Fact]
    public async Task AVersionWhoseFrontEndRefusesSomeHeldOutScans_IsExplainedOnTheScansItAnswers()
    {
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_digit_frames.onnx"), ["Aggregator:ModelInterface:Trainable"] = "all",
            ["Aggregator:ModelInterface:Preprocess"] = Fixture("pytorch_frames_trimming.onnx"), ["Aggregator:ModelInterface:AxisLengths"] = "readings=6..8,frames=3..8",
        }).Build()) with
        {
            EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = AggregatorFixture.TempDirectory(),
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Explain = new ExplanationOptions { Repeats = 2, DependenceInputs = 2 } },
        };
        var (scans, digits) = RawScans();
        await using var node = new AggregatorNode(options, evaluator: new HeldOutEvaluator(scans, digits));
        await node.StartAsync(CancellationToken.None);
        using var served = node.Artifacts.LoadModel(node.Artifacts.Read(node.CurrentVersion.InferenceSha256), options.Model);
        var answered = Enumerable.Range(0, 200).Count(i => served.RefusalOf(scans[(i * 64)..((i + 1) * 64)]) is null);
        Assert.InRange(answered, 100, 199); // some held-out scans keep fewer than 3 frames

        var explanation = node.Explainer.For(node.Registry.Version(options.ModelName, node.CurrentVersion.Version)!);
        Assert.NotNull(explanation);
        Assert.Equal(answered, explanation.Rows); // explained on the scans the front end answers
        Assert.Equal(64, explanation.Importance.Count);
        Assert.InRange(explanation.BaselineAccuracy, 0.0, 1.0);
        Assert.All(explanation.Dependence, d => Assert.All(d.Average, point => Assert.All(point, p => Assert.True(double.IsFinite(p) && p is >= 0 and <= 1))));
    }

    /// <summary>
    /// What the explainers see of such a model (<see cref="Runtime.AnsweredProbabilities"/>), against running each scan
    /// alone: a refused scan is all zeros, the others as served; accuracy counts a refused scan as not right; a
    /// dependence point averages over the scans answered at that value.
    /// </summary>
    [Fact]
    public void TheExplainersSeeARefusedScanAsNotAnswered_AndTheOthersAsServedAlone()
    {
        var (scans, digits) = RawScans();
        var (frames, trimming, spec) = Trimmed();
        using var served = Runtime.InferenceModel.Load(frames, spec, preprocess: trimming);
        var model = new Runtime.AnsweredProbabilities(served);

        float[]? Alone(float[] rows, int i)
        {
            try
            {
                return served.Predict(rows[(i * 64)..((i + 1) * 64)], 1).Probabilities;
            }
            catch (Runtime.SampleRefusedException)
            {
                return null;
            }
        }

        var answers = model.Probabilities(scans, 200);
        var (right, refused) = (0, 0);
        for (var i = 0; i < 200; i++)
        {
            var alone = Alone(scans, i);
            refused += alone is null ? 1 : 0;
            var row = answers.AsSpan(i * 10, 10).ToArray();
            if (alone is null) Assert.All(row, p => Assert.Equal(0f, p));
            else Assert.All(alone.Zip(row), p => Assert.Equal(p.First, p.Second, 1e-5));
            right += alone is not null && Array.IndexOf(alone, alone.Max()) == digits[i] ? 1 : 0;
        }

        Assert.InRange(refused, 1, 100);
        Assert.Equal(right / 200.0, PermutationImportance.Accuracy(model, scans, digits), 1e-9);

        var grid = new[] { 100f, 2000f };
        var curve = PartialDependence.Compute(model, scans, 200, 3, grid);
        for (var g = 0; g < grid.Length; g++)
        {
            var changed = (float[])scans.Clone();
            for (var i = 0; i < 200; i++) changed[(i * 64) + 3] = grid[g];
            var answered = Enumerable.Range(0, 200).Select(i => Alone(changed, i)).Where(a => a is not null).ToArray();
            Assert.NotEmpty(answered);
            for (var k = 0; k < 10; k++) Assert.Equal(answered.Average(a => a![k]), curve.Average[g][k], 1e-5);
        }
    }

    /// <summary>The pipeline's latency gate times two such versions on the held-out scans their front end takes (a refused scan used to fail the gate's run).</summary>
    [Fact]
    public void TheLatencyGate_TimesSuchVersions_OnTheScansTheFrontEndTakes()
    {
        var (scans, _) = RawScans();
        var (frames, trimming, spec) = Trimmed();
        var timed = EdgeMlOps.Aggregator.Pipeline.ReferenceLatency.Compare(frames, frames, scans, spec, requests: 60, preprocess: trimming);
        Assert.NotNull(timed);
        Assert.Equal(60, timed.Requests);
        Assert.True(timed.CandidateP95Ms > 0 && timed.DeployedP95Ms > 0);
    }
}
