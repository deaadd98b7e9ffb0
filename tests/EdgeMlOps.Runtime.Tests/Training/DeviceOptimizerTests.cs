using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// Momentum and Adam in generated train steps, against the update rules applied in C# to gradients read from the
/// plain SGD step (one full batch per step, so every step sees the same data).
/// </summary>
public class DeviceOptimizerTests
{
    private static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-6-5-3");

    private static TrainStepModel Step(DeviceOptimizer optimizer) => new(TrainStepGenerator.Generate(
        ClassifierGraphs.BuildInference(ModelWeights.Initialize(Spec, 1)),
        new TrainStepOptions(ClassifierGraphs.ProbabilitiesOutput, TrainingLoss.SoftmaxCrossEntropy) { Optimizer = optimizer }).Model.ToByteArray(), Spec);

    [Theory]
    [InlineData(DeviceOptimizer.Momentum)]
    [InlineData(DeviceOptimizer.Adam)]
    public void ThreeSteps_FollowTheOptimizersRule_WithStateStartingAtZero(DeviceOptimizer optimizer)
    {
        var w0 = ModelWeights.Initialize(Spec, seed: 4).Values;
        var (x, y) = SyntheticBlobs.Make(12, Spec.InputDim, Spec.Classes, seed: 8, spread: 2);
        using var sgd = Step(DeviceOptimizer.Sgd);
        using var stepped = Step(optimizer);
        Assert.Equal(DeviceOptimizer.Sgd, sgd.Optimizer);
        Assert.Equal(optimizer, stepped.Optimizer);
        const float eta = 0.05f;
        float[] Gradient(float[] w) => w.Zip(sgd.Train(w, x, y, new LocalTrainingPlan(1, y.Length, 1f, 0)).Weights, (a, b) => a - b).ToArray();

        var expected = w0.ToArray();
        var first = new double[w0.Length];
        var second = new double[w0.Length];
        for (var t = 1; t <= 3; t++)
        {
            var g = Gradient(expected);
            for (var i = 0; i < g.Length; i++)
            {
                double direction;
                if (optimizer == DeviceOptimizer.Momentum)
                {
                    first[i] = 0.9 * first[i] + g[i];
                    direction = first[i];
                }
                else
                {
                    first[i] = 0.9 * first[i] + 0.1 * g[i];
                    second[i] = 0.999 * second[i] + 0.001 * g[i] * g[i];
                    direction = first[i] / (1 - Math.Pow(0.9, t)) / (Math.Sqrt(second[i] / (1 - Math.Pow(0.999, t))) + 1e-8);
                }

                expected[i] = (float)(expected[i] - eta * direction);
            }
        }

        var actual = stepped.Train(w0, x, y, new LocalTrainingPlan(3, y.Length, eta, 0)).Weights;
        var moved = expected.Zip(w0, (e, w) => Math.Abs(e - w)).Max();
        var error = actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
        Assert.True(moved > 1e-3, "the weights should move");
        Assert.True(error < 1e-5, $"max deviation {error:E2} from the {optimizer} rule (weights moved up to {moved:E2})");

        // State starts at zero every call: a second run from w0 gives the same weights.
        Assert.Equal(actual, stepped.Train(w0, x, y, new LocalTrainingPlan(3, y.Length, eta, 0)).Weights);
    }
}
