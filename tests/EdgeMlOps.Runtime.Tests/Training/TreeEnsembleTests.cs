using System.Text.Json;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A random forest trained with Debian's python3-sklearn and converted to ai.onnx.ml by our own small converter
/// (Training/Fixtures/convert_sklearn_forest.py): ONNX Runtime reproduces sklearn's predict_proba, the checks accept
/// it, and a train step is refused: its parameters live in node attributes, which no gradient reaches.
/// </summary>
public class TreeEnsembleTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    [Fact]
    public void ASklearnForest_RunsInOnnxRuntime_AsSklearnPredicts_AndIsNotDifferentiated()
    {
        var bytes = File.ReadAllBytes(Fixture("sklearn_forest_wine.onnx"));
        var model = ClassifierGraphs.Parse(bytes);
        Assert.Empty(OnnxModelCheck.Problems(model));
        Assert.Equal(("ai.onnx.ml.TreeEnsembleClassifier", 1), OnnxModelCheck.OpHistogram(model).Single());

        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("sklearn_forest_expected.json")));
        var root = json.RootElement;
        var rows = root.GetProperty("rows").GetInt32();
        var features = root.GetProperty("features").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var expected = root.GetProperty("probabilities").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var predicted = root.GetProperty("predicted").EnumerateArray().Select(e => e.GetInt64()).ToArray();

        using var session = new InferenceSession(bytes);
        using var input = OrtValue.CreateTensorValueFromMemory(features, [rows, features.Length / rows]);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = session.Run(runOptions, ["features"], [input], ["label", "probabilities"]);
        Assert.Equal(predicted, outputs[0].GetTensorDataAsSpan<long>().ToArray());
        var probabilities = outputs[1].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(expected.Length, probabilities.Length);
        Assert.True(expected.Zip(probabilities, (e, p) => Math.Abs(e - p)).Max() < 1e-6);

        var refusal = Assert.Throws<NotDifferentiableException>(() => TrainStepGenerator.Generate(model, new TrainStepOptions("probabilities", TrainingLoss.SoftmaxCrossEntropy)));
        Assert.Contains("no trainable parameter influences 'probabilities'", refusal.Message);
    }
}
