using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Cli;

/// <summary><c>edgemlops models check</c>: offline, on files PyTorch exported.</summary>
public class ModelCheckCommandTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    private static async Task<(int Exit, string Output)> Run(params string[] args)
    {
        var console = new TestConsole().Width(400);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "check", .. args], console);
        return (exit, console.Output);
    }

    [Fact]
    public async Task APyTorchExport_IsDescribed_AndItsChosenLayersWouldTrain()
    {
        var stepFile = Path.Combine(Path.GetTempPath(), $"step-{Guid.NewGuid():N}.onnx");
        var (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--trainable", "last:2", "--optimizer", "adam", "--train-step", stepFile);
        Assert.Equal(0, exit);
        Assert.Contains("inputs:    features float [batch, 4]", output, StringComparison.Ordinal);
        Assert.Contains("LayerNormalization ×1", output, StringComparison.Ordinal);
        Assert.Contains("well formed: yes", output, StringComparison.Ordinal);
        // The last two layers with parameters: the LayerNorm (scale, bias) and the last Linear.
        Assert.Contains("adam; trains 4 tensors", output, StringComparison.Ordinal);
        Assert.Contains("frozen:    2 initializers", output, StringComparison.Ordinal);
        var step = EdgeMlOps.Shared.Onnx.ClassifierGraphs.Parse(File.ReadAllBytes(stepFile));
        Assert.Contains(step.Graph.Input, i => i.Name == "optimizer_step");
        File.Delete(stepFile);
    }

    [Fact]
    public async Task Refusals_ExitOne_AndSayWhy()
    {
        var garbage = Path.Combine(Path.GetTempPath(), $"garbage-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(garbage, [0xff, 0xff, 0xff, 0x01, 0x02]);
        var (exit, output) = await Run(garbage);
        Assert.Equal(1, exit);
        Assert.Contains("is not an ONNX model", output, StringComparison.Ordinal);
        File.Delete(garbage);

        (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--output", "logits");
        Assert.Equal(1, exit);
        Assert.Contains("no train step for pytorch_mlp_layernorm.onnx: the model has no output 'logits' (outputs: probabilities, label)", output, StringComparison.Ordinal);

        (exit, output) = await Run(Fixture("pytorch_mlp_layernorm.onnx"), "--trainable", "none");
        Assert.Equal(0, exit);
        Assert.DoesNotContain("train step", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASegmenter_IsShownAsAPerPositionClassifier_WithItsPerPositionTrainStep()
    {
        var (exit, output) = await Run(Fixture("pytorch_digit_segmenter.onnx"));
        Assert.Equal(0, exit);
        Assert.Contains("as a per-position classifier (ModelInterface:Kind=positions): samples [1, 8, 8] into 'pixels', logits of 11 classes at each of [8, 8] positions per row", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce per position on 'segments', sgd; trains 8 tensors, 12,710 values", output, StringComparison.Ordinal);

        // A tagger's classes last: declared, its 11 classes at 8 rows (read with axis 1 it would be 8 classes at 11 positions).
        (exit, output) = await Run(Fixture("pytorch_digit_row_tagger.onnx"), "--class-axis", "last");
        Assert.Equal(0, exit);
        Assert.Contains("as a per-position classifier (ModelInterface:Kind=positions, ModelInterface:ClassAxis=last): samples [8, 8] into 'rows', logits of 11 classes at each of [8] positions per row (classes on the last axis)", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce per position on 'tags', sgd; trains 10 tensors", output, StringComparison.Ordinal);
        Assert.Equal(1, (await Run(Fixture("pytorch_digit_row_tagger.onnx"), "--class-axis", "2")).Exit);

        // A regressor on one of several outputs, its axes read from the graph where PyTorch left them symbolic.
        (exit, output) = await Run(Fixture("pytorch_digit_completion.onnx"), "--output", "bottom", "--loss", "mse");
        Assert.Equal(0, exit);
        Assert.Contains("as a regressor (ModelInterface:Kind=regression): samples [4, 8] into 'top', 32 regression values per row, [4, 8] row-major from 'bottom'", output, StringComparison.Ordinal);
        Assert.Contains("train step: mse on 'bottom', sgd; trains 4 tensors, 4,192 values", output, StringComparison.Ordinal);

        // Both outputs at once, as a multi-task model: the interface, what trains and the target's layout; a task its
        // output cannot be is refused (exit 1).
        var step = Path.Combine(Path.GetTempPath(), $"edgemlops-multitask-{Guid.NewGuid():N}.onnx");
        (exit, output) = await Run(Fixture("pytorch_digit_completion.onnx"), "--tasks", "digit:classes,bottom:regression:0.5", "--train-step", step);
        Assert.Equal(0, exit);
        Assert.Contains("as a multi-task model (ModelInterface:Kind=multitask, ModelInterface:Tasks=digit:classes,bottom:regression:0.5): samples [4, 8] into 'top'; 2 tasks trained at once", output, StringComparison.Ordinal);
        Assert.Contains("with the weighted sum of the tasks' losses (POST /v1/feedback {\"target\": [a class id for 'digit', 32 values for 'bottom']}); scored by the weighted loss and the accuracy of 'digit'", output, StringComparison.Ordinal);
        Assert.True(new FileInfo(step).Length > 0);
        File.Delete(step);
        (exit, output) = await Run(Fixture("pytorch_digit_completion.onnx"), "--tasks", "bottom:classes,digit:regression");
        Assert.Equal(1, exit);
        Assert.True(output.Contains("as a multi-task model: no — task 'bottom'", StringComparison.Ordinal), output);
    }

    [Fact]
    public async Task AFreeAxis_IsNamedWithThePinThatWouldFixIt_AndPinned_IsShownWithItsTrainStep()
    {
        var (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"));
        Assert.Contains("as the fleet's model: no — input 'rows' is float [batch, frames, 8]; every axis after the batch must be fixed — pin the free one at the length the fleet serves and trains: ModelInterface:AxisLengths=frames=N", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--axis-lengths", "frames=8");
        Assert.Equal(0, exit);
        Assert.Contains("as the fleet's model (Aggregator:Model=onnx:FILE, ModelInterface:Trainable=all, ModelInterface:AxisLengths=frames=8): samples [8, 8] into 'rows' (64 floats per request), 10 classes", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 4 tensors", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--axis-lengths", "frames=6..8");
        Assert.Equal(0, exit);
        Assert.Contains("ModelInterface:AxisLengths=frames=6..8): samples [8, 8] into 'rows' (48 to 64 floats per request: 6 to 8 'frames'), 10 classes", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 4 tensors", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--axis-lengths", "steps=8");
        Assert.Equal(1, exit);
        Assert.Contains("no input has an axis named 'steps'", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// Samples of several lengths behind a front end: the check says what callers send and what monitoring sketches —
    /// the mean over the frames behind a front end that keeps them, the features as they are behind one that resamples —
    /// and shows the train step either way.
    /// </summary>
    [Fact]
    public async Task ARangeOfLengthsBehindAFrontEnd_IsShownWithWhatMonitoringSketches()
    {
        var (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--preprocess", Fixture("pytorch_frames_calibration.onnx"), "--axis-lengths", "frames=6..8");
        Assert.Equal(0, exit);
        Assert.Contains("ModelInterface:Preprocess=FILE, ModelInterface:AxisLengths=frames=6..8): samples [8, 8] into the front end's 'scan', which makes 'rows' [8, 8] (48 to 64 floats per request: 6 to 8 'frames')", output, StringComparison.Ordinal);
        Assert.Contains("the front end keeps the samples' 'frames': monitoring sketches the mean over 'frames' of the features it makes (8 values at every length)", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 4 tensors", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--preprocess", Fixture("pytorch_frames_resample.onnx"), "--axis-lengths", "readings=6..8,frames=8");
        Assert.Equal(0, exit);
        Assert.Contains("(48 to 64 floats per request: 6 to 8 'readings')", output, StringComparison.Ordinal);
        Assert.Contains("monitoring sketches the 64 features the front end makes (what the model sees, one shape at every length)", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 4 tensors", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames_context.onnx"), "--input", "rows", "--preprocess", Fixture("pytorch_frames_calibration.onnx"), "--axis-lengths", "frames=6..8");
        Assert.Equal(0, exit);
        Assert.Contains("(56 to 72 floats per request: 6 to 8 'frames', then 8 context values)", output, StringComparison.Ordinal);
        Assert.Contains("the front end keeps the samples' 'frames': monitoring sketches the mean over 'frames' of the features it makes and then the context values (16 values at every length)", output, StringComparison.Ordinal);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 6 tensors", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_digit_frames.onnx"), "--preprocess", Fixture("pytorch_frames_trimming.onnx"), "--axis-lengths", "readings=6..8,frames=1..8");
        Assert.Equal(0, exit);
        Assert.Contains("ModelInterface:AxisLengths=readings=6..8,frames=1..8): samples [8, 8] into the front end's 'scan'", output, StringComparison.Ordinal);
        Assert.Contains("the front end makes 1 to 8 'frames' of 6 to 8 'readings', as many as each sample's data decides: monitoring sketches the mean over 'frames' of the features it makes (8 values at every length)", output, StringComparison.Ordinal);
    }

    /// <summary>A while loop only the data ends: the check says to declare a bound, and with one shows the train step.</summary>
    [Fact]
    public async Task AWhileLoopTheDataEnds_IsCheckedWithItsDeclaredBound()
    {
        var (exit, output) = await Run(Fixture("pytorch_scripted_while.onnx"));
        Assert.Contains("ModelInterface:MaxLoopTrips=N", output, StringComparison.Ordinal);
        (exit, output) = await Run(Fixture("pytorch_scripted_while.onnx"), "--max-loop-trips", "16");
        Assert.Equal(0, exit);
        Assert.Contains("train step: softmax-ce on 'logits', sgd; trains 6 tensors", output, StringComparison.Ordinal);
        Assert.Contains("ModelInterface:Trainable=all, ModelInterface:MaxLoopTrips=16)", output, StringComparison.Ordinal);
        Assert.Contains("a loop only the data ends is unrolled to 16 iterations; a batch whose loop runs longer is refused on the device", output, StringComparison.Ordinal);
        (exit, _) = await Run(Fixture("pytorch_scripted_while.onnx"), "--max-loop-trips", "2000");
        Assert.Equal(1, exit);
    }

    [Fact]
    public async Task AModelWithSeveralInputs_IsCheckedWithItsFeaturesInputNamed_TheOthersShownAsContext()
    {
        var (exit, output) = await Run(Fixture("pytorch_diabetes_two_inputs.onnx"), "--loss", "mse");
        Assert.Equal(0, exit);
        Assert.Contains("as the fleet's model: no — the graph has 2 inputs (measurements, sex): name the features input (the others become context inputs)", output, StringComparison.Ordinal);

        (exit, output) = await Run(Fixture("pytorch_diabetes_two_inputs.onnx"), "--loss", "mse", "--input", "measurements");
        Assert.Equal(0, exit);
        Assert.Contains("as a regressor (ModelInterface:Kind=regression): samples [9] into 'measurements' (ModelInterface:Input=measurements), then context inputs 'sex' int64 [1] in each sample, one regression value per row", output, StringComparison.Ordinal);
        Assert.Contains("train step: mse on 'progression', sgd; trains 5 tensors, 189 values", output, StringComparison.Ordinal);
        Assert.Contains("sex_embedding.weight [2, 4]", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheInterfaceTheFleetWouldUse_IsShownForConfirmation()
    {
        var (exit, output) = await Run(Fixture("pytorch_cnn_digits04.onnx"), "--trainable", "last:1");
        Assert.Equal(0, exit);
        Assert.Contains("as the fleet's model (Aggregator:Model=onnx:FILE, ModelInterface:Trainable=last:1): samples [1, 28, 28] into 'features' (784 floats per request), "
            + "10 classes as probabilities from 'probabilities'; devices train head.weight, head.bias; spec onnx-784-10-", output, StringComparison.Ordinal);

        (exit, output) = await Run(Fixture("sklearn_forest_wine.onnx"), "--trainable", "none");
        Assert.Equal(0, exit);
        Assert.Contains("13 floats per request), 3 classes as probabilities from 'probabilities'; served only, no rounds", output, StringComparison.Ordinal);

        // A binary detector with one sigmoid score per row: two classes, trained with binary cross-entropy.
        (exit, output) = await Run(Fixture("pytorch_binary_detector.onnx"), "--trainable", "all");
        Assert.Equal(0, exit);
        Assert.Contains("(8 floats per request), 2 classes as one probability per row for class 1 of 2 from 'score'; devices train hidden.weight, hidden.bias, head.weight, head.bias", output, StringComparison.Ordinal);
        Assert.Contains("train step: binary-ce on class ids 0/1 on 'score', sgd; trains 4 tensors, 161 values", output, StringComparison.Ordinal);

        // A batch fixed at 1 (torch.onnx.export without dynamic_axes) is run a row at a time; the check says so.
        (exit, output) = await Run(Fixture("pytorch_digit_batch_one.onnx"), "--trainable", "all");
        Assert.Equal(0, exit);
        Assert.Contains("samples [1, 8, 8] into 'scan' (64 floats per request), 10 classes as logits (softmax applied on the device) from 'logits'; devices train conv.weight, conv.bias, head.weight, head.bias", output, StringComparison.Ordinal);
        Assert.Contains("its batch is fixed at 1 (exported without dynamic_axes): devices run it a row at a time", output, StringComparison.Ordinal);

        // Another fixed batch cannot be the fleet's model; the check says so and why.
        var fixedBatch = EdgeMlOps.Shared.Onnx.ClassifierGraphs.Parse(File.ReadAllBytes(Fixture("pytorch_cnn_digits04.onnx")));
        fixedBatch.Graph.Input[0].Type.TensorType.Shape.Dim[0] = new EdgeMlOps.Shared.Onnx.Proto.TensorShapeProto.Types.Dimension { DimValue = 8 };
        var path = Path.Combine(Path.GetTempPath(), $"fixed-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, Google.Protobuf.MessageExtensions.ToByteArray(fixedBatch));
        (_, output) = await Run(path, "--trainable", "none");
        Assert.Contains("as the fleet's model: no — input 'features' has a fixed batch of 8; export it with a dynamic batch axis (or with a batch of 1, which devices run one row at a time)", output, StringComparison.Ordinal);
        File.Delete(path);
    }

    [Fact]
    public async Task AModelThatIsNotAClassifier_IsShownAsServedByTensorNames_WithTheStatePairsItsShapesAllow()
    {
        var (_, output) = await Run(Fixture("pytorch_gru_keyword.onnx"), "--trainable", "none");
        Assert.Contains("as the fleet's model: no — the graph has 2 inputs (frames, h_in)", output, StringComparison.Ordinal);
        Assert.Contains("as a model served by tensor names (ModelInterface:Kind=tensors, ModelInterface:State=h_in>h_out): callers feed frames:float[1,-1,8] "
            + "to POST /v1/infer and read score:float[1,1], h_out:float[1,1,16]; served only, no rounds; spec tensors-", output, StringComparison.Ordinal);
        Assert.Contains("confirm h_out → h_in is what the model carries", output, StringComparison.Ordinal);

        // A classifier can be served either way; by tensor names the caller reads every output as the file makes it.
        (_, output) = await Run(Fixture("sklearn_forest_wine.onnx"), "--trainable", "none");
        Assert.Contains("13 floats per request), 3 classes as probabilities", output, StringComparison.Ordinal);
        Assert.Contains("callers feed features:float[-1,13] to POST /v1/infer and read label:int64[-1], probabilities:float[-1,3]", output, StringComparison.Ordinal);

        // An image model: what is watched, and the values that could be its embedding.
        (_, output) = await Run(Fixture("pytorch_image_scorer.onnx"), "--trainable", "none");
        Assert.Contains("monitoring sketches score (1 value per row); to watch the inputs' drift, declare an embedding (ModelInterface:Embedding=VALUE), e.g. one of /features/features.4/GlobalAveragePool_output_0, /features/features.5/Flatten_output_0, /head/Gemm_output_0", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithAPreprocessingGraph_TheInterfaceIsWhatCallersFeedTheFrontEnd_OrWhyItDoesNotFit()
    {
        var (exit, output) = await Run(Fixture("pytorch_kws_1d.onnx"), "--trainable", "none", "--preprocess", Fixture("pytorch_mel_frontend.onnx"));
        Assert.Equal(0, exit);
        var sha = EdgeMlOps.Shared.Hashing.ContentHash.Sha256Hex(File.ReadAllBytes(Fixture("pytorch_mel_frontend.onnx")));
        Assert.Contains($"(ModelInterface:Kind=tensors, ModelInterface:Preprocess=FILE {sha[..12]}…, which feeds features): callers feed wave:float[-1,8192] to POST /v1/infer", output, StringComparison.Ordinal);

        // As a classifier the fleet trains behind the same front end: raw samples in, and what monitoring watches.
        (exit, output) = await Run(Fixture("pytorch_kws_1d.onnx"), "--trainable", "last:1", "--preprocess", Fixture("pytorch_mel_frontend.onnx"));
        Assert.Equal(0, exit);
        Assert.Contains("ModelInterface:Preprocess=FILE): samples [8192] into the front end's 'wave', which makes 'features' [40, 32] (8192 floats per request), 5 classes", output, StringComparison.Ordinal);
        Assert.Contains("monitoring sketches the 1,280 features the front end makes (what the model sees), not the 8,192 values callers send", output, StringComparison.Ordinal);

        (_, output) = await Run(Fixture("pytorch_image_scorer.onnx"), "--trainable", "none", "--preprocess", Fixture("pytorch_mel_frontend.onnx"));
        Assert.Contains("as a model served by tensor names: no — the preprocessing output 'features' is no model input (inputs: image)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFileWithOneValuePerRow_IsShownAsARegressorToo_WithItsMseStep()
    {
        var (exit, output) = await Run(Fixture("pytorch_diabetes_regressor.onnx"), "--trainable", "all");
        Assert.Equal(0, exit);
        Assert.Contains("as a regressor (ModelInterface:Kind=regression): samples [10] into 'features', one regression value per row from 'progression'; devices train hidden.weight, hidden.bias, head.weight, head.bias with mean squared error", output, StringComparison.Ordinal);
        (_, output) = await Run(Fixture("pytorch_cnn_digits04.onnx"), "--trainable", "last:1");
        Assert.DoesNotContain("as a regressor", output, StringComparison.Ordinal); // ten class scores are not asked about as values
    }

    [Fact]
    public async Task AFileWithSigmoidScores_IsShownAsAMultiLabelClassifierToo_WithItsCrossEntropyStep()
    {
        var (exit, output) = await Run(Fixture("pytorch_digit_attributes.onnx"), "--trainable", "all");
        Assert.Equal(0, exit);
        Assert.Contains("as a multi-label classifier (ModelInterface:Kind=multilabel): samples [64] into 'pixels', 4 independent label probabilities per row, any number of labels true from 'attributes'; devices train hidden.weight, hidden.bias, head.weight, head.bias with binary cross-entropy", output, StringComparison.Ordinal);
        (_, output) = await Run(Fixture("pytorch_cnn_digits04.onnx"), "--trainable", "last:1");
        Assert.DoesNotContain("as a multi-label classifier", output, StringComparison.Ordinal); // a softmax over ten classes is one distribution
    }
}
