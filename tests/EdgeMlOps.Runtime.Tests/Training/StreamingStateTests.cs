using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A streaming classifier exported by PyTorch (<c>export_pytorch_streaming.py</c>: a GRU over two rows of a digit scan
/// per call, its state an input and an output, batch first): declared with its state pair, a scan fed in four calls
/// — each starting from the state the last one made — answers what PyTorch answers after every call, and one step on
/// rows holding the state their call started from follows PyTorch's gradient with that state detached (truncated
/// back-propagation through time at call boundaries).
/// </summary>
public class StreamingStateTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly byte[] Streaming = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "pytorch_streaming_digits.onnx"));

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "streaming_digits_expected.json"))).RootElement;

    internal static UploadedClassifier Open(string trainable = "all") =>
        UploadedClassifier.Open(Streaming, new UploadedClassifierOptions(trainable) { Input = "rows", States = [("h_in", "h_out")] });

    private static double[] Doubles(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetDouble())];

    [Fact]
    public void AScanFedInFourCalls_CarryingTheState_AnswersWhatPyTorchAnswersAfterEachCall()
    {
        var uploaded = Open();
        var graph = uploaded.Spec.Graph!;
        Assert.Equal([("h_in", "h_out")], graph.States);
        Assert.Equal([new TensorSignature("h_in", TensorElement.Float, [16])], graph.ContextInputs);
        Assert.Equal(32, uploaded.Spec.InputDim); // two rows of 8, then the 16 state values the call starts from
        Assert.Equal(uploaded.Spec, ModelArchitectures.ToSpec(ModelArchitectures.From(uploaded.Spec, []))); // signed and read back whole

        using var model = InferenceModel.Load(Streaming, uploaded.Spec);
        var pixels = Doubles(Expected.GetProperty("pixels")).Select(v => (float)v).ToArray();
        const int Scans = 6;
        var state = new float[Scans * 16];
        for (var call = 0; call < 4; call++)
        {
            var rows = new float[Scans * 32];
            for (var s = 0; s < Scans; s++)
            {
                pixels.AsSpan((s * 64) + (call * 16), 16).CopyTo(rows.AsSpan(s * 32, 16));
                state.AsSpan(s * 16, 16).CopyTo(rows.AsSpan((s * 32) + 16, 16));
            }

            var answer = model.Predict(rows, Scans);
            PyTorchLogits.AssertSoftmax(Doubles(Expected.GetProperty("logitsByCall")[call]), answer.Probabilities, classes: 10);
            state = Assert.Single(answer.States);
            var theirs = Doubles(Expected.GetProperty("statesByCall")[call]);
            Assert.All(theirs.Zip(state), p => Assert.Equal(p.First, p.Second, 1e-5));
        }
    }

    [Fact]
    public void OneStepOnRowsHoldingTheirStartingState_FollowsPyTorchsGradient_WithTheStateDetached()
    {
        var uploaded = Open();
        Assert.Equal(["cell.weight_ih_l0", "cell.weight_hh_l0", "cell.bias_ih_l0", "cell.bias_hh_l0", "head.weight", "head.bias"], uploaded.Spec.Graph!.Trained.Select(t => t.Name));
        var rows = Doubles(Expected.GetProperty("rows")).Select(v => (float)v).ToArray();
        var labels = Expected.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        UploadedClassifierTests.OneSgdStepFollowsPyTorch(uploaded, rows, labels, Expected);
    }

    /// <summary>
    /// What a fleet of streaming devices does, in one process: each round, 10 devices of 140 scans (all ten digits)
    /// stream their scans through the version they serve — four calls, the state carried — keep each call's row (its
    /// two rows and the state it started from) labelled with the digit, and train on them; FedAvg of the six tensors.
    /// Held-out accuracy is the class after the fourth call of each of the last 397 scans, streamed through the version:
    /// 0.448 (the upload, trained on 0–4) → 0.300 after round 1 (its head first pulled towards digits it never saw) →
    /// 0.688 after round 8.
    /// </summary>
    [Fact]
    public void FedAvgOverStreamedCalls_LearnsDigitsTheUploadNeverSaw()
    {
        var uploaded = Open();
        var scans = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "digits_tokens.csv"))
            .Select(l => l.Split(',').Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray()).ToArray();

        // Every call's row (its two rows, then the state it started from) and, per scan, the class after the last call.
        static (float[] Rows, long[] Final) Stream(InferenceModel model, int[][] part)
        {
            var rows = new float[4 * part.Length * 32];
            var state = new float[part.Length * 16];
            long[] final = [];
            for (var call = 0; call < 4; call++)
            {
                var batch = rows.AsSpan(call * part.Length * 32, part.Length * 32);
                for (var s = 0; s < part.Length; s++)
                {
                    for (var v = 0; v < 16; v++) batch[(s * 32) + v] = part[s][(call * 16) + v];
                    state.AsSpan(s * 16, 16).CopyTo(batch.Slice((s * 32) + 16, 16));
                }

                var answer = model.Predict(batch.ToArray(), part.Length);
                (state, final) = (answer.States[0], answer.Labels);
            }

            return (rows, final);
        }

        var heldOut = scans[1400..];
        InferenceModel Version(float[] weights) => InferenceModel.Load(uploaded.InferenceBytes(new ModelWeights(uploaded.Spec, weights)), uploaded.Spec);
        double Accuracy(float[] weights)
        {
            using var version = Version(weights);
            return Stream(version, heldOut).Final.Zip(heldOut).Average(p => p.First == p.Second[64] ? 1.0 : 0.0);
        }

        using var trainer = new TrainStepModel(uploaded.TrainStep!, uploaded.Spec);
        var weights = uploaded.InitialWeights().Values;
        var curve = new List<double> { Accuracy(weights) };
        for (var round = 0; round < 8; round++)
        {
            var sum = new double[weights.Length];
            using (var served = Version(weights))
            {
                for (var device = 0; device < 10; device++)
                {
                    var shard = scans.Skip(device * 140).Take(140).ToArray();
                    var rows = Stream(served, shard).Rows;
                    long[] labels = [.. Enumerable.Range(0, 4).SelectMany(_ => shard.Select(s => (long)s[64]))];
                    var local = trainer.Train(weights, rows, labels, new LocalTrainingPlan(3, 16, 0.1f, (round * 10) + device)).Weights;
                    for (var i = 0; i < sum.Length; i++) sum[i] += local[i] / 10;
                }
            }

            weights = [.. sum.Select(v => (float)v)];
            curve.Add(Accuracy(weights));
        }

        output.WriteLine("held-out accuracy after four calls, by round: " + string.Join(" → ", curve.Select(a => a.ToString("F3", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.True(curve[^1] > curve[0] + 0.2, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
    }

    [Fact]
    public void AStatePairThatDoesNotFit_IsRefusedNamingWhy()
    {
        string Refusal(params (string, string)[] states) => Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Streaming, new UploadedClassifierOptions("all") { Input = "rows", States = states })).Message;

        Assert.Contains("state h_in>logits: 'logits' is float [batch, 10]; it must be float [batch, 16] like 'h_in'", Refusal(("h_in", "logits")), StringComparison.Ordinal);
        Assert.Contains("the graph has no output 'h_next'", Refusal(("h_in", "h_next")), StringComparison.Ordinal);
        Assert.Contains("'rows' is not a context input", Refusal(("rows", "h_out")), StringComparison.Ordinal);
        var graph = Open().Spec.Graph!;
        Assert.Contains("'h_in' is not a float context input", Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [] }).Message, StringComparison.Ordinal);
        Assert.Contains("the state output must be named, and not the scores output", Assert.Throws<ArgumentException>(() => graph with { States = [("h_in", "logits")] }).Message, StringComparison.Ordinal);
    }
}
