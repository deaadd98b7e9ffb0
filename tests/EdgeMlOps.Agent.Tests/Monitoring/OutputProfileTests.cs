using EdgeMlOps.Agent.Tests.Http;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Agent.Tests.Monitoring;

/// <summary>
/// Prediction drift starts on the device: a regressor's window profile sketches the values it answered, a multi-label
/// classifier's its label probabilities — one sketch per output, equal to ONNX Runtime's outputs on the original
/// PyTorch file — beside the feature sketches, under the same row floor.
/// </summary>
public sealed class OutputProfileTests
{
    private const int Rows = 30;

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Theory]
    [InlineData("pytorch_diabetes_regressor.onnx", "diabetes_regressor_expected.json", "features", "progression", false)]
    [InlineData("pytorch_digit_attributes.onnx", "digit_attributes_expected.json", "pixels", "attributes", true)]
    public async Task AWindowProfile_SketchesEveryOutputValueTheModelAnswered(string file, string expectedFile, string inputName, string outputName, bool multiLabel)
    {
        var bytes = File.ReadAllBytes(Fixture(file));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = !multiLabel, MultiLabel = multiLabel });
        await using var serving = await ServingAgent.StartAsync(model, bytes);
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixture(expectedFile)));
        var given = expected.RootElement.GetProperty("rows").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var width = model.Spec.InputDim;
        var rows = new float[Rows * width];
        for (var i = 0; i < Rows; i++)
        {
            for (var j = 0; j < width; j++) rows[(i * width) + j] = given[((i % 6) * width) + j] * (1 + (0.02f * i));
            serving.Device.Agent.PredictValues(rows.AsSpan(i * width, width).ToArray());
        }

        serving.Device.Agent.FlushProfile();
        var profile = serving.Device.Outbox.Peek(100).Where(m => m.Topic.EndsWith("/profile", StringComparison.Ordinal))
            .Select(m => ProfileReport.Parser.ParseFrom(m.Payload)).Single();

        using var session = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(rows, [Rows, width]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = session.Run(runOptions, [inputName], [input], [outputName]);
        var answered = outputs[0].GetTensorDataAsSpan<float>().ToArray();
        var targets = model.Spec.Targets;
        Assert.Equal((ulong)Rows, profile.Predictions);
        Assert.Equal(width, profile.Features.Count);
        Assert.Equal(targets, profile.Outputs.Count);
        for (var o = 0; o < targets; o++)
        {
            var values = Enumerable.Range(0, Rows).Select(i => (double)answered[(i * targets) + o]).ToArray();
            Assert.Equal((ulong)Rows, profile.Outputs[o].Count);
            Assert.Equal(values.Average(), profile.Outputs[o].Mean, 4);
            var mean = values.Average();
            Assert.Equal(values.Sum(v => (v - mean) * (v - mean)), profile.Outputs[o].M2, 4);
            Assert.NotNull(profile.Outputs[o].Quantiles); // compacted by the device's sketch policy, as the feature sketches are
            if (multiLabel) Assert.All(values, v => Assert.InRange(v, 0, 1)); // probabilities, after the model's sigmoid
        }
    }
}
