using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// Runs an uploaded classifier in ONNX Runtime before any device does: the file itself on probe rows of its sample
/// shape (scores [rows, classes], all finite, rows summing to 1 when declared probabilities; a binary classifier's one
/// score per row within [0, 1] when declared a probability) and one step of its
/// generated train step (a finite loss). What fails is said in one sentence, so a fleet never announces a model
/// its devices cannot run.
/// </summary>
public static class UploadedModelProbe
{
    public const int Rows = 8;

    /// <summary>Throws <see cref="InvalidDataException"/> saying what failed.</summary>
    public static void Run(UploadedClassifier model)
    {
        try
        {
            RunClassifier(model);
        }
        catch (SampleRefusedException ex) // a front end that made a count outside the signed range of the probe rows
        {
            throw new InvalidDataException($"on probe rows: {ex.Message}", ex);
        }
    }

    private static void RunClassifier(UploadedClassifier model)
    {
        var spec = model.Spec;
        var graph = spec.Graph!;
        if (graph.Tensors is { } tensors)
        {
            TensorModelProbe.Run(model.Bytes, spec, tensors, model.Preprocess);
            return;
        }

        var rows = RunServed(model.Bytes, spec, model.Preprocess);
        if (graph.Varying is { } varying) ProbeShortest(model, varying);
        if (model.TrainStep is not { } step) return;
        try
        {
            using var trainer = new TrainStepModel(step, spec, preprocess: model.Preprocess);
            var plan = new LocalTrainingPlan(Epochs: 1, BatchSize: Rows, LearningRate: 1e-3f, Seed: 0);
            var result = spec.TakesTargets
                ? trainer.TrainTargets(model.InitialWeights().Values, rows, new float[Rows * spec.Targets], plan) // targets of zero: any finite value probes the step
                : trainer.Train(model.InitialWeights().Values, rows, Enumerable.Range(0, Rows).Select(i => (long)(i % spec.Classes)).ToArray(), plan);
            if (!double.IsFinite(result.Loss) || Array.Exists(result.Weights, v => !float.IsFinite(v)))
                throw new InvalidDataException($"its generated train step gives a non-finite loss or weights on probe rows (loss {result.Loss})");
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"its generated train step does not run in ONNX Runtime: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Samples of several lengths: the file and its train step also run on probe samples of the shortest length, giving
    /// finite scores and a finite loss (the longest is what <see cref="RunServed"/> probed).
    /// </summary>
    private static void ProbeShortest(UploadedClassifier model, SampleLengths varying)
    {
        var spec = model.Spec;
        var graph = spec.Graph!;
        var rows = ProbeRows(GraphInterface.Layout(graph.FeaturesInput, varying.DimsAt(varying.Shortest), graph.IntegerFeatures, graph.ContextInputs), Rows); // ids: 0, the one every vocabulary has
        var shape = $"[{Rows}, {string.Join(", ", varying.DimsAt(varying.Shortest))}]" + string.Concat(graph.ContextInputs.Select(c => $" and [{Rows}, {string.Join(", ", c.Dims)}] into '{c.Name}'"));
        try
        {
            using var loaded = InferenceModel.Load(model.Bytes, spec, preprocess: model.Preprocess); // behind the front end, when there is one
            var scores = spec.TakesTargets ? loaded.PredictValues(rows, Rows).Values : loaded.Predict(rows, Rows).Probabilities;
            if (Array.Exists(scores, v => !float.IsFinite(v))) throw new InvalidDataException($"it gives a non-finite score on probe rows {shape}, the shortest samples ({varying.Text})");
            if (model.TrainStep is not { } step) return;
            using var trainer = new TrainStepModel(step, spec, preprocess: model.Preprocess);
            var plan = new LocalTrainingPlan(Epochs: 1, BatchSize: Rows, LearningRate: 1e-3f, Seed: 0);
            var lengths = Enumerable.Repeat(rows.Length / Rows, Rows).ToArray();
            var result = spec.TakesTargets
                ? trainer.TrainTargetLengths(model.InitialWeights().Values, rows, lengths, new float[Rows * spec.Targets], plan)
                : trainer.TrainLengths(model.InitialWeights().Values, rows, lengths, Enumerable.Range(0, Rows).Select(i => (long)(i % spec.Classes)).ToArray(), plan);
            if (!double.IsFinite(result.Loss)) throw new InvalidDataException($"its generated train step gives a non-finite loss on probe rows {shape}, the shortest samples ({varying.Text})");
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"it does not run on probe rows {shape}, the shortest samples ({varying.Text}): {ex.Message}", ex);
        }
        catch (Exception ex) when ((ex is SampleRefusedException || ex is InvalidDataException) && !ex.Message.StartsWith("it ", StringComparison.Ordinal)) // a front end that made another count than its interface says
        {
            throw new InvalidDataException($"on probe rows {shape}, the shortest samples ({varying.Text}): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Runs the classifier file <paramref name="bytes"/> as <paramref name="spec"/> reads it on probe rows; the rows it
    /// used. Throws <see cref="InvalidDataException"/> saying what failed.
    /// </summary>
    public static float[] RunServed(byte[] bytes, ModelSpec spec, byte[]? preprocess = null)
    {
        try
        {
            return Served(bytes, spec, preprocess);
        }
        catch (SampleRefusedException ex)
        {
            throw new InvalidDataException($"on probe rows: {ex.Message}", ex);
        }
    }

    private static float[] Served(byte[] bytes, ModelSpec spec, byte[]? preprocess)
    {
        var graph = spec.Graph!;
        // Ids are probed with 0, the one id every vocabulary has; float inputs with standard-normal rows.
        var rows = ProbeRows(graph, Rows);
        var shape = $"[{Rows}, {string.Join(", ", graph.SampleDims)}]" + string.Concat(graph.ContextInputs.Select(c => $" and [{Rows}, {string.Join(", ", c.Dims)}] into '{c.Name}'"));
        InferenceModel loaded;
        try
        {
            loaded = InferenceModel.Load(bytes, spec, preprocess: preprocess);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load it: {ex.Message}", ex);
        }

        using (loaded)
        {
            if (spec.TakesTargets)
            {
                ProbeValues(loaded, rows, shape);
                return rows;
            }

            PredictionBatch batch;
            try
            {
                batch = loaded.Predict(rows, Rows);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new InvalidDataException($"it does not run on probe rows {shape} into '{graph.FeaturesInput}' giving '{graph.ScoresOutput}' [{Rows}, {(graph.SingleScore ? 1 : spec.Classes)}]: {ex.Message}", ex);
            }

            if (Array.FindIndex(batch.Probabilities, v => !float.IsFinite(v)) is var bad and >= 0)
                throw new InvalidDataException($"'{graph.ScoresOutput}' has a non-finite score for probe row {bad / spec.Classes}");
            for (var r = 0; r < Rows && graph is { ScoresAreLogits: false, SingleScore: true }; r++)
            {
                var p = batch.Probabilities[r * 2 + 1];
                if (p is < 0 or > 1)
                    throw new InvalidDataException($"'{graph.ScoresOutput}' is read as a probability but probe row {r} scores {p:0.####}; if it is a logit, set ModelInterface:Scores=logits");
            }

            for (var r = 0; r < Rows && !graph.ScoresAreLogits; r++)
            {
                var sum = batch.Probabilities.AsSpan(r * spec.Classes, spec.Classes).ToArray().Sum();
                if (Math.Abs(sum - 1) > 1e-3)
                    throw new InvalidDataException($"'{graph.ScoresOutput}' is read as probabilities but probe row {r} sums to {sum:0.####}; if they are logits, set ModelInterface:Scores=logits");
            }
        }

        return rows;
    }

    /// <summary>Probe rows for <paramref name="graph"/>: standard-normal values for its float inputs, 0 — the one id every vocabulary has, false, and the first category — for its id, flag and string inputs.</summary>
    public static float[] ProbeRows(GraphInterface graph, int rows) => ProbeRows(graph.SampleSpans(), rows);

    /// <summary>Probe rows laid out as <paramref name="spans"/>: standard-normal floats, and 0 for every id, flag or category.</summary>
    private static float[] ProbeRows(IReadOnlyList<GraphInterface.SampleSpan> spans, int rows)
    {
        var width = spans.Sum(s => s.Length);
        var values = UploadedGraphCheck.ProbeInputs(rows, width);
        foreach (var (_, offset, length, _, element) in spans)
        {
            for (var r = 0; r < rows && element != TensorElement.Float; r++) values.AsSpan((r * width) + offset, length).Clear();
        }

        return values;
    }

    /// <summary>A regressor's values on the probe rows: [rows, targets], all finite.</summary>
    private static void ProbeValues(InferenceModel loaded, float[] rows, string shape)
    {
        var graph = loaded.Spec.Graph!;
        float[] values;
        try
        {
            values = loaded.PredictValues(rows, Rows).Values;
        }
        catch (OnnxRuntimeException ex)
        {
            throw new InvalidDataException($"it does not run on probe rows {shape} into '{graph.FeaturesInput}' giving '{graph.ScoresOutput}' [{Rows}, {graph.TargetWidth}]: {ex.Message}", ex);
        }

        if (Array.FindIndex(values, v => !float.IsFinite(v)) is var bad and >= 0)
            throw new InvalidDataException($"'{graph.ScoresOutput}' has a non-finite value for probe row {bad / graph.TargetWidth}");
        if ((graph.PositionClasses > 0 || graph.Tasks.Count > 0) && loaded.EvaluateTargets(rows, new float[Rows * graph.TargetWidth]) is { Loss: var crossEntropy } && !double.IsFinite(crossEntropy))
            throw new InvalidDataException($"'{graph.ScoresOutput}' has non-finite class scores on probe rows (cross-entropy {crossEntropy})");
        if (graph.MultiLabels > 0 && Array.FindIndex(values, v => v is < 0 or > 1) is var odd and >= 0)
            throw new InvalidDataException($"'{graph.ScoresOutput}' gives {values[odd]} for label {odd % graph.MultiLabels} of probe row {odd / graph.MultiLabels}, not a probability (declare ModelInterface:Scores=logits if it makes logits)");
    }
}
