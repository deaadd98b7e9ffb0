using System.Text.Json;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A per-pixel classifier exported by PyTorch (<c>export_digit_segmenter.py</c>: 11 classes — background, or the digit
/// whose ink it is — at each of a scan's 8×8 pixels, [batch, 11, 8, 8] as PyTorch's per-pixel cross-entropy takes
/// them): served as a class id per position, scored and trained with softmax cross-entropy per position against a class
/// id per pixel — each against what PyTorch computed.
/// </summary>
public class PerPositionClassifierTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Training", "Fixtures", name);

    private static readonly JsonElement Expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_segmenter_expected.json"))).RootElement;

    private static readonly byte[] Segmenter = File.ReadAllBytes(Fixture("pytorch_digit_segmenter.onnx"));

    private static float[] Floats(string name) => [.. Expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];

    [Fact]
    public void PyTorchsSegmenter_AnswersAClassPerPixel_AndOneStepFollowsPyTorchsGradientOfThePerPixelCrossEntropy()
    {
        var model = UploadedClassifier.Open(Segmenter, new UploadedClassifierOptions("all") { PerPosition = true });
        var spec = model.Spec;
        Assert.True(spec.IsPerPosition);
        Assert.Equal((64, 0, 64, 11, "segments"), (spec.InputDim, spec.Classes, spec.Targets, spec.Graph!.PositionClasses, spec.Graph.ScoresOutput));
        Assert.Equal([8L, 8L], spec.Graph.ValuesDims);
        Assert.Equal("logits of 11 classes at each of [8, 8] positions per row (softmax applied on the device), a class id per position", spec.Graph.ScoresKind);
        Assert.Equal(("position accuracy", "position error rate"), (spec.AccuracyName, spec.SquaredErrorName));
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        // Served: PyTorch's argmax over the classes at every pixel.
        using var served = InferenceModel.Load(Segmenter, spec);
        var pixels = Floats("pixels");
        var logits = Floats("segments");
        var answer = served.PredictValues(pixels, 6);
        var ids = answer.Values;
        var expectedIds = Enumerable.Range(0, 6 * 64).Select(i => (float)Enumerable.Range(0, 11).MaxBy(c => logits[((i / 64) * 11 * 64) + (c * 64) + (i % 64)])).ToArray();
        Assert.Equal(expectedIds, ids);

        // Monitoring sketches each class's share of a row's pixels (11 values per row, however many pixels), not 64 ids.
        Assert.Same(answer.ClassShares, answer.Monitored);
        Assert.Equal(6 * 11, answer.Monitored.Length);
        for (var row = 0; row < 6; row++)
        {
            for (var c = 0; c < 11; c++) Assert.Equal(expectedIds.Skip(row * 64).Take(64).Count(id => id == c) / 64f, answer.Monitored[(row * 11) + c], 6);
        }

        // Its error on a row's ground truth — what feedback, shadow and A/B tests average — is the share of positions wrong.
        var classes = Floats("classes");
        var wrong = expectedIds.AsSpan(0, 64).ToArray().Zip(classes.AsSpan(0, 64).ToArray()).Count(p => p.First != p.Second) / 64.0;
        Assert.Equal(wrong, spec.RowError(ids.AsSpan(0, 64), classes.AsSpan(0, 64)), 12);
        Assert.Equal(1.0 / 64, spec.RowError([.. classes.AsSpan(0, 63), classes[63] + 1], classes.AsSpan(0, 64)), 12); // one pixel off by any class is one wrong

        // Scored: PyTorch's cross-entropy over every pixel of the six scans, and the share of pixels right.
        var score = served.EvaluateTargets(pixels, classes);
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), score.Loss, 4);
        Assert.Equal(expectedIds.Zip(classes).Count(p => p.First == p.Second) / 384.0, score.Accuracy, 9);

        // Trained: one SGD step over the six scans as one batch moves every parameter by −lr × PyTorch's gradient.
        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        Assert.Equal(64, trainer.TargetWidth);
        const float Lr = 0.5f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, pixels, classes, new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(Expected.GetProperty("loss").GetDouble(), result.Loss, 4);
        Assert.Equal(score.Accuracy, result.Accuracy, 9); // the step counts pixels right, as the score does
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, Expected);
        output.WriteLine($"six scans: cross-entropy {score.Loss:F5} (PyTorch {Expected.GetProperty("loss").GetDouble():F5}), pixel accuracy {score.Accuracy:F4}; one step's worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
        Assert.Contains("a position's class id is a whole number below 11", Assert.Throws<ArgumentException>(() => served.EvaluateTargets(pixels, [.. classes[..^1], 11f])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WhatCannotBeAPerPositionClassifier_IsRefused_NamingWhy()
    {
        Assert.Contains("a per-position classifier's scores must be float [batch, classes, positions…]", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_cnn_digits04.onnx")), new UploadedClassifierOptions("none") { PerPosition = true, Output = "probabilities" })).Message, StringComparison.Ordinal);
        Assert.Contains("one of a regressor, a multi-label classifier, a per-position classifier or a multi-task model", Assert.Throws<InvalidDataException>(() =>
            UploadedClassifier.Open(Segmenter, new UploadedClassifierOptions("none") { PerPosition = true, Regression = true })).Message, StringComparison.Ordinal);

        static string Refusal(ModelArchitecture architecture) => Assert.Throws<InvalidDataException>(() => ModelArchitectures.ToSpec(architecture)).Message;
        var signed = ModelArchitectures.From(UploadedClassifier.Open(Segmenter, new UploadedClassifierOptions("all") { PerPosition = true }).Spec, []);
        var one = signed.Clone();
        one.Graph.PositionClasses = 1;
        Assert.Contains("a per-position classifier scores 2 to 1024 classes", Refusal(one), StringComparison.Ordinal);
        var noPositions = signed.Clone();
        noPositions.Graph.ValuesDims.Clear();
        Assert.Contains("a per-position classifier classes 1 to 65536 positions", Refusal(noPositions), StringComparison.Ordinal);
        var vast = signed.Clone();
        vast.Graph.ValuesDims[0] = 100_000;
        Assert.Contains("a per-position classifier classes 1 to 65536 positions", Refusal(vast), StringComparison.Ordinal);
        var wide = signed.Clone();
        wide.Graph.ValuesDims[0] = 256;
        wide.Graph.ValuesDims[1] = 256;
        wide.Graph.PositionClasses = 100; // 6.5 million scores per row: a device would need 26 MB for one answer
        Assert.Contains("100 classes at 65536 positions are over 4194304 class scores per row", Refusal(wide), StringComparison.Ordinal);
        var lastOfAClassifier = ModelArchitectures.From(UploadedClassifier.Open(File.ReadAllBytes(Fixture("pytorch_cnn_digits04.onnx")), new UploadedClassifierOptions("last:1")).Spec, []);
        lastOfAClassifier.Graph.ClassAxisLast = true;
        Assert.Contains("only a per-position classifier has its classes on the last axis", Refusal(lastOfAClassifier), StringComparison.Ordinal);
        var labelled = signed.Clone();
        labelled.Graph.MultiLabels = 4;
        Assert.Contains("neither a single-score classifier, a regressor nor a multi-label classifier", Refusal(labelled), StringComparison.Ordinal);
    }

    /// <summary>
    /// A sequence tagger exported by PyTorch (<c>export_digit_row_tagger.py</c>: a bidirectional GRU over a scan's eight
    /// rows, 11 classes at every row as [batch, 8, 11] — its classes on the last axis, as taggers write them), declared
    /// with <c>ClassAxisLast</c>: answered, scored and trained per row as PyTorch computes it.
    /// </summary>
    [Fact]
    public void PyTorchsRowTagger_WithItsClassesLast_AnswersAClassPerRow_AndOneStepFollowsPyTorchsGradient()
    {
        var expected = JsonDocument.Parse(File.ReadAllText(Fixture("digit_row_tagger_expected.json"))).RootElement;
        float[] Values(string name) => [.. expected.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var bytes = File.ReadAllBytes(Fixture("pytorch_digit_row_tagger.onnx"));
        var model = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { PerPosition = true, ClassAxisLast = true });
        var spec = model.Spec;
        Assert.Equal((64, 8, 11, true), (spec.InputDim, spec.Targets, spec.Graph!.PositionClasses, spec.Graph.ClassAxisLast));
        Assert.Equal("logits of 11 classes at each of [8] positions per row (classes on the last axis) (softmax applied on the device), a class id per position", spec.Graph.ScoresKind);
        Assert.Equal(spec, ModelArchitectures.ToSpec(ModelArchitectures.From(spec, []))); // signed and read back whole

        // Read with its classes on axis 1 it is another model (8 classes at 11 positions): the declaration decides.
        Assert.Equal((8, 11), (UploadedClassifier.Open(bytes, new UploadedClassifierOptions("none") { PerPosition = true }).Spec.Graph!.PositionClasses,
            UploadedClassifier.Open(bytes, new UploadedClassifierOptions("none") { PerPosition = true }).Spec.Targets));

        using var served = InferenceModel.Load(bytes, spec);
        var (rows, logits, classes) = (Values("rows"), Values("tags"), Values("classes"));
        var ids = served.PredictValues(rows, 6).Values;
        Assert.Equal(Enumerable.Range(0, 48).Select(i => (float)Enumerable.Range(0, 11).MaxBy(c => logits[(i * 11) + c])).ToArray(), ids);
        var score = served.EvaluateTargets(rows, classes);
        Assert.Equal(expected.GetProperty("loss").GetDouble(), score.Loss, 4);

        using var trainer = new TrainStepModel(model.TrainStep!, spec);
        const float Lr = 0.5f;
        var initial = model.InitialWeights();
        var result = trainer.TrainTargets(initial.Values, rows, classes, new LocalTrainingPlan(1, 6, Lr, 1));
        Assert.Equal(expected.GetProperty("loss").GetDouble(), result.Loss, 4);
        Assert.Equal(score.Accuracy, result.Accuracy, 9);
        var worst = PyTorchGradients.WorstRelativeError(initial, result.Weights, Lr, expected);
        output.WriteLine($"six scans' rows: cross-entropy {score.Loss:F5} (PyTorch {expected.GetProperty("loss").GetDouble():F5}), row accuracy {score.Accuracy:F4}; one step's worst relative gradient error {worst:G3}");
        Assert.True(worst < 1e-3, $"the step differs from PyTorch's gradient by up to {worst:P3} (relative)");
    }
}
