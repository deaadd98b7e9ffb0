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
/// scores each version by streaming held-out scans through it.
/// </summary>
[Collection(FleetCollection.Name)]
public class StreamingFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    /// <summary>Held-out scans streamed through a version in four calls, scored on the class after the last one.</summary>
    private sealed class StreamedScans(int[][] scans) : IModelEvaluator
    {
        public EvaluationScore Evaluate(InferenceModel model) => EvaluateCohorts(model)[InferenceModel.AllCohorts];

        public IReadOnlyDictionary<string, EvaluationScore> EvaluateCohorts(InferenceModel model)
        {
            var state = new float[scans.Length * 16];
            PredictionBatch last = null!;
            for (var call = 0; call < 4; call++)
            {
                var rows = new float[scans.Length * 32];
                for (var s = 0; s < scans.Length; s++)
                {
                    for (var v = 0; v < 16; v++) rows[(s * 32) + v] = scans[s][(call * 16) + v];
                    state.AsSpan(s * 16, 16).CopyTo(rows.AsSpan((s * 32) + 16, 16));
                }

                last = model.Predict(rows, scans.Length);
                state = last.States[0];
            }

            var loss = scans.Select((s, i) => -Math.Log(Math.Max(last.Probabilities[(i * 10) + s[64]], 1e-12f))).Average();
            var accuracy = scans.Select((s, i) => last.Labels[i] == s[64] ? 1.0 : 0.0).Average();
            return new Dictionary<string, EvaluationScore> { [InferenceModel.AllCohorts] = new(loss, accuracy, scans.Length) };
        }
    }

    [Fact]
    public async Task AStreamingClassifier_IsFineTunedByRealAgents_FromTheCallsTheyServedInSessions()
    {
        var scans = File.ReadAllLines(Fixture("digits_tokens.csv")).Select(l => l.Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var bytes = await File.ReadAllBytesAsync(Fixture("pytorch_streaming_digits.onnx"));
        var source = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Input = "rows", States = [("h_in", "h_out")] });
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-streaming-" + Guid.NewGuid().ToString("N"));
        const int Devices = 10, Scans = 140;
        var options = new AggregatorOptions
        {
            Fleet = "mics", ModelName = "digit-stream", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
            Rounds = new RoundOptions { ClientsPerRound = Devices, OverSelection = 1, LocalEpochs = 3, BatchSize = 16, LearningRate = 0.1f, ReportDeadline = TimeSpan.FromSeconds(60) },
        };
        await using var node = new AggregatorNode(options, evaluator: new StreamedScans(scans[1400..]));
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
                        for (var call = 0; call < 4; call++)
                        {
                            var row = new float[32];
                            for (var v = 0; v < 16; v++) row[v] = scan[(call * 16) + v];
                            var answer = agents[d].Agent.PredictOwned(row, $"r{round}-scan-{i}");
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
                Assert.Equal(("Completed", Devices, 4L * Scans * Devices), (report.Status.ToString(), report.Contributors, report.Samples));
                curve.Add(node.CurrentVersion.EvalAccuracy!.Value);
            }

            output.WriteLine("held-out accuracy after four calls, by round: " + string.Join(" → ", curve.Select(a => a.ToString("F3", CultureInfo.InvariantCulture))));
            Assert.Equal(0.448, curve[0], 3); // the upload, streamed: what the in-process run measured
            Assert.True(curve[^1] > curve[0] + 0.1, $"held-out accuracy {curve[0]:F3} → {curve[^1]:F3}");
        }
        finally
        {
            foreach (var agent in agents) await agent.DisposeAsync();
        }
    }
}
