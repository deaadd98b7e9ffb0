using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A real pretrained model made by other people's tools: the ResNet18 image featurizer ML.NET ships as a NuGet
/// package (exported by CNTK 2.6 at opset 8, IR 3, 15.9 million parameters, batch fixed at 1).
/// </summary>
public class PretrainedModelTests
{
    private static readonly string ResNet = Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", "ResNet18.onnx");

    [Fact]
    public void ResNet18_IsWellFormed_AndItsLastLayerFineTunes_ThroughAnOpsetLiftedTrainStep_WithGradientsMatchingDifferences()
    {
        var model = ClassifierGraphs.Parse(File.ReadAllBytes(ResNet));
        Assert.Empty(OnnxModelCheck.Problems(model));
        Assert.Equal(8, model.OpsetImport.Single().Version);
        var output = model.Graph.Output.Single().Name;
        var input = model.Graph.Input.First(i => model.Graph.Initializer.All(t => t.Name != i.Name));

        var last = TrainableSelection.Resolve(model, "last:1")!;
        using var probe = new GradientProbe(model, new TrainStepOptions(output, TrainingLoss.MeanSquaredError) { Trainable = last });
        Assert.Equal(last, probe.Step.Trained);
        Assert.Equal(13, probe.Step.Model.OpsetImport.Single().Version); // the user's file is untouched: only the train step is lifted
        Assert.Equal(8, ClassifierGraphs.Parse(File.ReadAllBytes(ResNet)).OpsetImport.Single().Version);

        var random = new Random(2);
        var feeds = new Dictionary<string, Feed>
        {
            [input.Name] = new Feed([1, 3, 224, 224], Enumerable.Range(0, 3 * 224 * 224).Select(_ => random.NextDouble()).ToArray()),
            ["labels"] = new Feed([1, 512, 1, 1], Enumerable.Range(0, 512).Select(i => Math.Sin(i)).ToArray()),
        };
        var error = probe.RelativeError(feeds, h: 1e-2);
        Assert.True(error < 2e-3, $"relative gradient error {error:E2}");

        // Every layer: 66 tensors train (the 22 BatchNorms' running statistics stay frozen), and one step runs.
        using var everything = new GradientProbe(model, new TrainStepOptions(output, TrainingLoss.MeanSquaredError));
        Assert.Equal(66, everything.Step.Trained.Count);
        var (loss, gradients) = everything.Gradient(feeds);
        Assert.True(double.IsFinite(loss) && gradients.Values.All(g => g.All(double.IsFinite)) && gradients.Values.Any(g => g.Any(v => v != 0)));
    }
}
