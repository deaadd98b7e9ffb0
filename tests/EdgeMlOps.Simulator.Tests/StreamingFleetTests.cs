using System.Globalization;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A streaming classifier fine-tuned by real agents from the calls they served (<c>export_pytorch_streaming.py</c>: a
/// GRU over two rows of a digit scan per call, its state carried between calls, trained by PyTorch on digits 0–4):
/// before each round each of 10 agents streams its 140 scans through <c>Predict</c> in sessions with the version it
/// serves — four calls a scan, the device carrying the state — and sends each call's digit back by prediction id, so
/// every kept row holds the state its call started from; the round trains on those rows over MQTT, and the aggregator
/// scores each version by streaming held-out scans through it. The same with calls of several lengths
/// (<c>export_streaming_frames.py</c>: chunks of 3, 3 and 2 rows, <c>frames=2..3</c>).
/// </summary>
[Collection(FleetCollection.Name)]
public class StreamingFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>Two rows a call, four calls a scan (<c>export_pytorch_streaming.py</c>).</summary>
    private static readonly (int From, int To)[] Pairs = [(0, 2), (2, 4), (4, 6), (6, 8)];

    /// <summary>Held-out scans streamed through a version in its calls (each a chunk of rows), scored on the class after the last one.</summary>
    private sealed class StreamedScans(int[][] scans, (int From, int To)[] chunks) : IModelEvaluator
    {
        public EvaluationScore Evaluate(InferenceModel model) => EvaluateCohorts(model)[InferenceModel.AllCohorts];

        public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model)
        {
            var state = new float[scans.Length * 16];
            PredictionBatch last = null!;
            foreach (var chunk in chunks)
            {
                var rows = new float[scans.Length * (Width(chunk) + 16)];
                for (var s = 0; s < scans.Length; s++)
                {
                    Call(scans[s], chunk).CopyTo(rows, s * (Width(chunk) + 16));
                    state.AsSpan(s * 16, 16).CopyTo(rows.AsSpan((s * (Width(chunk) + 16)) + Width(chunk), 16));
                }

                last = model.Predict(rows, scans.Length);
                state = last.States[0];
            }

            var loss = scans.Select((s, i) => -Math.Log(Math.Max(last.Probabilities[(i * 10) + s[64]], 1e-12f))).Average();
            var accuracy = scans.Select((s, i) => last.Labels[i] == s[64] ? 1.0 : 0.0).Average();
            return new Dictionary<string, EvaluationScore> { [InferenceModel.AllCohorts] = new(loss, accuracy, scans.Length) };
        }
    }

    /// <summary>Values of a call of rows <paramref name="chunk"/> (8 a row).</summary>
    private static int Width((int From, int To) chunk) => (chunk.To - chunk.From) * 8;

    /// <summary>A call's row as a device serves it: the chunk's values, then room for the state the device fills in.</summary>
    private static float[] Call(int[] scan, (int From, int To) chunk)
    {
        var row = new float[Width(chunk) + 16];
        for (var v = 0; v < Width(chunk); v++) row[v] = scan[(chunk.From * 8) + v];
        return row;
    }

    [Fact]
    public async Task AStreamingClassifier_IsFineTunedByRealAgents_FromTheCallsTheyServedInSessions()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_digits.onnx"));
        var curve = await FineTuneAsync(UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", States = [("h_in", "h_out")] }), Pairs);
        Assert.Equal(0.448, curve[0], 3); // the upload, streamed: what the in-process run measured
        Assert.True(curve[^1] > curve[0] + 0.1, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
    }

    /// <summary>
    /// Calls of several lengths (<c>export_streaming_frames.py</c>: each scan in calls of 3, 3 and 2 rows, declared
    /// <c>frames=2..3</c>): the devices fill and keep the state after a chunk of either length, every call's row trains
    /// at its own length, and held-out accuracy rises.
    /// </summary>
    [Fact]
    public async Task AStreamingClassifierWithCallsOfSeveralLengths_IsFineTunedByRealAgents()
    {
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_frames.onnx"));
        var curve = await FineTuneAsync(UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all")
        {
            Input = "rows", States = [("h_in", "h_out")], AxisLengths = AxisLengths.Parse("frames=2..3"), Varying = AxisLengths.Range("frames=2..3"),
        }), [(0, 3), (3, 6), (6, 8)]);
        Assert.Equal(0.461, curve[0], 3); // the upload, streamed: what PyTorch measured on the same scans
        Assert.True(curve[^1] > curve[0] + 0.1, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
    }

    /// <summary>
    /// Five rounds: before each, every device serves its 140 scans in sessions, a call per chunk, and gets each call's
    /// digit back; the round trains on those rows. The held-out accuracy of the upload and after each round.
    /// </summary>
    private async Task<List<double>> FineTuneAsync(UploadedClassifier source, (int From, int To)[] chunks)
    {
        var scans = File.ReadAllLines(Fixture("digits_tokens.csv")).Select(l => l.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-streaming-" + Guid.NewGuid().ToString("N"));
        const int Devices = 10, Scans = 140;
        var options = new AggregatorOptions
        {
            Fleet = "mics", ModelName = "digit-stream", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = Devices, OverSelection = 1, LocalEpochs = 3, BatchSize = 16, LearningRate = 0.1f, ReportDeadline = TimeSpan.FromSeconds(60) },
        };
        await using var node = new AggregatorNode(options, evaluator: new StreamedScans(scans[1400..], chunks));
        await node.StartAsync(CancellationToken.None);
        var agents = new List<JoinedAgent>();
        try
        {
            for (var d = 0; d < Devices; d++) agents.Add(await JoinedAgent.StartAsync(node, Path.Combine(dir, $"d{d}"), $"mic-{d}", maxSamples: 8 * Scans)); // room for the last round's rows too

            // Before each round every device serves its scans in sessions with the version it runs and gets each call's
            // digit back: its store keeps the newest rows, each with the state its call started from under that version.
            async Task ServeAsync(ulong version, int round)
            {
                for (var d = 0; d < Devices; d++)
                {
                    using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await agents[d].Agent.WaitForModelAsync(version, cts.Token);
                    foreach (var (scan, i) in scans.Skip(d * Scans).Take(Scans).Select((s, i) => (s, i)))
                    {
                        foreach (var (chunk, call) in chunks.Select((c, k) => (c, k)))
                        {
                            var answer = agents[d].Agent.PredictOwned(Call(scan, chunk), $"r{round}-scan-{i}");
                            Assert.Equal((call == 0, version), (answer.StateReset, answer.ModelVersion));
                            Assert.True(agents[d].Agent.Feedback(answer.PredictionId, scan[64]));
                        }
                    }
                }
            }

            var curve = new List<double> { node.CurrentVersion.EvalAccuracy!.Value };
            for (var round = 0; round < 5; round++)
            {
                await ServeAsync(node.CurrentVersion.Version, round);
                await Eventually.Until(() => node.Devices.Eligible().Count == Devices, "every device eligible", 30);
                var report = await node.RunRoundAsync(CancellationToken.None);
                // Only the rows holding the base version's state train: the last round's stay in the store, unused.
                Assert.Equal(("Completed", Devices, (long)chunks.Length * Scans * Devices), (report.Status.ToString(), report.Contributors, report.Samples));
                curve.Add(node.CurrentVersion.EvalAccuracy!.Value);
            }

            output.WriteLine($"held-out accuracy after {chunks.Length} calls, by round: " + string.Join(" → ", curve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture))));
            return curve;
        }
        finally
        {
            foreach (var agent in agents) await agent.DisposeAsync();
        }
    }
}
