using System.Diagnostics;
using System.Globalization;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a model costs a device: resident memory added by loading its inference session and its train-step session
/// (each configuration in a fresh process, after ONNX Runtime itself is loaded), inference latency per request at
/// batch 1 and per row at batch 32, and one train step on a batch of 32. Compares the dense MNIST classifier the fleet
/// runs today with the PyTorch digit CNN, head-only and fully trained.
/// Run: <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- model-footprint</c>.
/// </summary>
public static class ModelFootprint
{
    private static readonly string CnnPath = Path.Combine("tests", "EdgeMlOps.Runtime.Tests", "Training", "Fixtures", "pytorch_cnn_digits04.onnx");

    private static readonly string[] Configurations = ["mlp-784-128-10", "cnn head (last:1)", "cnn all"];

    public static void Run(string[] args, TextWriter output)
    {
        if (args is ["--one", var which]) { Measure(which, output); return; }
        output.WriteLine("| model | trained values | RSS added (MB) | inference µs (batch 1) | inference µs/row (batch 32) | train step µs (batch 32) |");
        output.WriteLine("|---|---|---|---|---|---|");
        foreach (var configuration in Configurations)
        {
            var start = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") start.ArgumentList.Add(typeof(ModelFootprint).Assembly.Location); // run as `dotnet x.dll`
            foreach (var arg in new[] { "model-footprint", "--one", configuration }) start.ArgumentList.Add(arg);
            using var child = Process.Start(start)!;
            output.WriteLine(child.StandardOutput.ReadToEnd().Trim());
            child.WaitForExit();
        }
    }

    private static void Measure(string configuration, TextWriter output)
    {
        using (var warm = new InferenceSession(ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpecText.Parse("logreg-2-2"), 1)).ToByteArray())) { }
        var before = Rss();
        byte[] inference;
        TrainStepModel trainer;
        long[] sample;
        int trainedValues;
        if (configuration.StartsWith("mlp", StringComparison.Ordinal))
        {
            var spec = ModelSpecText.Parse(configuration);
            inference = ClassifierGraphs.BuildInference(ModelWeights.Initialize(spec, 1)).ToByteArray();
            trainer = TrainStepModel.Build(spec);
            sample = [spec.InputDim];
            trainedValues = ParameterLayout.For(spec).TotalLength;
        }
        else
        {
            inference = File.ReadAllBytes(CnnPath);
            var model = ClassifierGraphs.Parse(inference);
            var step = TrainStepGenerator.Generate(model, new TrainStepOptions(ClassifierGraphs.ProbabilitiesOutput, TrainingLoss.SoftmaxCrossEntropy)
            {
                Trainable = TrainableSelection.Resolve(model, configuration.Contains("head", StringComparison.Ordinal) ? "last:1" : "all"),
            });
            trainer = new TrainStepModel(step.Model.ToByteArray(), step.Layout, ClassifierGraphs.FeaturesInput, [1, 28, 28]);
            sample = [1, 28, 28];
            trainedValues = step.Layout.TotalLength;
        }

        using var session = new InferenceSession(inference);
        var length = (int)sample.Aggregate(1L, (a, d) => a * d);
        var random = new Random(3);
        var rows = Enumerable.Range(0, 32 * length).Select(_ => (float)random.NextDouble()).ToArray();
        var labels = Enumerable.Range(0, 32).Select(i => (long)(i % 10)).ToArray();
        var weights = new float[trainedValues];
        double Infer(int batch)
        {
            using var input = OrtValue.CreateTensorValueFromMemory(rows.AsMemory(0, batch * length).ToArray(), [batch, .. sample]);
            var watch = Stopwatch.StartNew();
            using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
            using var results = session.Run(runOptions, [ClassifierGraphs.FeaturesInput], [input], [ClassifierGraphs.ProbabilitiesOutput]);
            return watch.Elapsed.TotalMicroseconds;
        }

        double TrainStep()
        {
            var watch = Stopwatch.StartNew();
            trainer.Train(weights, rows, labels, new LocalTrainingPlan(1, 32, 0.01f, 1));
            return watch.Elapsed.TotalMicroseconds;
        }

        Infer(1);
        Infer(32);
        TrainStep();
        GC.Collect();
        var added = (Rss() - before) / 1e6;
        var one = Timing.Median(Enumerable.Range(0, 200).Select(_ => Infer(1)));
        var batch = Timing.Median(Enumerable.Range(0, 100).Select(_ => Infer(32))) / 32;
        var train = Timing.Median(Enumerable.Range(0, 100).Select(_ => TrainStep()));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {configuration} | {trainedValues:N0} | {added:F1} | {one:F0} | {batch:F1} | {train:F0} |"));
        trainer.Dispose();
    }

    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.WorkingSet64;
    }
}
