using System.Text.Json;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Agent.Tests.Shadow;

/// <summary>
/// PyTorch's streaming classifier (<c>pytorch_streaming_digits.onnx</c>: a GRU over two rows of a digit scan per call,
/// its state an input and an output), a second version of it (other weights, the same layout), and the calls of
/// sessions as a device serves them: each session a scan in four calls, each call's row its two rows and then the state
/// the answering version's last call in that session made.
/// </summary>
internal static class StreamingDigits
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static readonly byte[] Bytes = File.ReadAllBytes(Fixture("pytorch_streaming_digits.onnx"));

    public static readonly UploadedClassifier Model = UploadedClassifier.Open(Bytes, new UploadedClassifierOptions("all") { Input = "rows", States = [("h_in", "h_out")] });

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("streaming_digits_expected.json"))).RootElement;

    public static readonly float[] Pixels = [.. Expected.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle())];

    public static readonly long[] Labels = [.. Expected.GetProperty("labels").EnumerateArray().Select(v => v.GetInt64())];

    public const int Scans = 6;

    public const int Calls = 4;

    /// <summary>The second version: every weight scaled by 0.6 (the same inputs, outputs and state).</summary>
    public static byte[] OtherVersion()
    {
        var weights = Model.InitialWeights().Clone();
        for (var i = 0; i < weights.Values.Length; i++) weights.Values[i] *= 0.6f;
        return Model.InferenceBytes(weights);
    }

    public static InferenceModel Load(byte[] bytes) => InferenceModel.Load(bytes, Model.Spec);

    /// <summary>The two rows of call <paramref name="call"/> of scan <paramref name="scan"/> (16 floats).</summary>
    public static float[] Rows(int scan, int call) => Pixels.AsSpan((scan % Scans * 64) + (call * 16), 16).ToArray();

    /// <summary>Sessions 0..<paramref name="sessions"/>-1 served by <paramref name="model"/> alone, call by call across the sessions: each call's row (state included) and answer.</summary>
    public static List<(int Session, int Call, float[] Row, PredictionBatch Answer)> Chains(InferenceModel model, int sessions)
    {
        var states = Enumerable.Range(0, sessions).Select(_ => new float[16]).ToArray();
        var calls = new List<(int, int, float[], PredictionBatch)>();
        for (var call = 0; call < Calls; call++)
        {
            for (var s = 0; s < sessions; s++)
            {
                float[] row = [.. Rows(s, call), .. states[s]];
                var answer = model.Predict(row, 1);
                states[s] = answer.States[0];
                calls.Add((s, call, row, answer));
            }
        }

        return calls;
    }
}
