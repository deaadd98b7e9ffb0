using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// A multi-task step's loss (<see cref="TrainStepOptions.Tasks"/>): one float labels input [batch, Σ widths] holding
/// each task's ground truth in order, sliced per task — a class id cast to int64 for softmax cross-entropy on a
/// classifier task's [batch, classes] scores (per position, reshaped like a per-position task's positions, on its
/// [batch, classes, positions…] scores), 0/1 labels for binary cross-entropy on a multi-label task's [batch, k]
/// scores (on the logits under a final Sigmoid), values reshaped like a regression task's output for mean squared error —
/// and the weighted sum of the losses; every task's gradient seeded on its own output (a shared trunk gets them summed).
/// The step's "correct" count is the first task's.
/// </summary>
internal static class TasksLossWriter
{
    public static LossTerms Write(GraphWriter w, GraphFacts facts, TrainStepOptions options)
    {
        var widths = options.Tasks.Select(task => Width(w.Graph, facts, task)).ToList();
        var labels = options.LabelsInput;
        if (w.Graph.Input.Any(i => i.Name == labels)) throw new NotDifferentiableException($"the model already has an input named '{labels}'; choose another labels input name");
        w.Graph.Input.Add(new ValueInfoProto
        {
            Name = labels,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)w.ElementType,
                    Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "batch" }, new TensorShapeProto.Types.Dimension { DimValue = widths.Sum(x => x.Width) } } },
                },
            },
        });

        var (seeds, losses, correct, offset) = (new List<(string, string)>(), new List<string>(), (string?)null, 0L);
        foreach (var (task, (width, dims)) in options.Tasks.Zip(widths))
        {
            var truth = w.Node("Slice", [labels, w.Int64s(offset), w.Int64s(offset + width), w.Int64s(1)]); // [batch, width]
            offset += width;
            var part = task.Kind switch
            {
                ModelTaskKind.Classes => TrainingLossWriter.SoftmaxCrossEntropy(w, TrainingLossWriter.Producer(facts, task.Output), task.Output,
                    w.Node("Cast", [w.Node("Squeeze", [truth, w.Int64s(1)])], Int("to", (long)DataType.Int64)), rank: 2, classAxis: 1),
                ModelTaskKind.Positions or ModelTaskKind.Tags => TrainingLossWriter.SoftmaxCrossEntropy(w, TrainingLossWriter.Producer(facts, task.Output), task.Output,
                    w.Node("Cast", [w.Node("Reshape", [truth, w.Int64s([-1, .. dims])])], Int("to", (long)DataType.Int64)), rank: 2 + dims.Length,
                    classAxis: task.Kind == ModelTaskKind.Tags ? 1 + dims.Length : 1),
                ModelTaskKind.Labels => TrainingLossWriter.BinaryCrossEntropyOn(w, // on the logits under a final Sigmoid
                    TrainingLossWriter.Producer(facts, task.Output) is { OpType: "Sigmoid" } sigmoid ? sigmoid.Input[0] : task.Output, truth),
                _ => TrainingLossWriter.MeanSquaredError(w, task.Output, w.Node("Reshape", [truth, w.Int64s([-1, .. dims])])),
            };
            var weighted = task.Weight == 1f ? part : new LossTerms(
                [.. part.Seeds.Select(s => (s.Value, w.Node("Mul", [s.Seed, w.Scalar(task.Weight)])))], w.Node("Mul", [part.Loss, w.Scalar(task.Weight)]), part.Correct);
            seeds.AddRange(weighted.Seeds);
            losses.Add(weighted.Loss);
            correct ??= part.Correct;
        }

        return new LossTerms(seeds, w.Node("Sum", losses), correct!);
    }

    /// <summary>A task's ground truth per row (a class id: 1; a class id per position; a regression task: its values) and, for a regression task, its output's axes behind the batch (a per-position task: its positions).</summary>
    private static (long Width, long[] Dims) Width(GraphProto graph, GraphFacts facts, TrainingTask task)
    {
        var output = graph.Output.FirstOrDefault(o => o.Name == task.Output)
            ?? throw new NotDifferentiableException($"the model has no output '{task.Output}' (outputs: {string.Join(", ", graph.Output.Select(o => o.Name))})");
        if ((DataType)(output.Type?.TensorType?.ElemType ?? 0) is not (DataType.Float or DataType.Double))
            throw new NotDifferentiableException($"output '{task.Output}' is not float; a loss needs a float or double output");
        var dims = facts.InferredDims(task.Output);
        if (task.Kind == ModelTaskKind.Classes)
        {
            if (dims is not { Length: 2 }) throw new NotDifferentiableException($"a classifier task's output '{task.Output}' must be class scores [batch, classes]");
            return (1, []);
        }

        if (task.Kind is ModelTaskKind.Positions or ModelTaskKind.Tags)
        {
            var last = task.Kind == ModelTaskKind.Tags;
            if (dims is null || dims.Length < 3 || dims.Skip(1).Any(d => d is not > 0))
                throw new NotDifferentiableException($"a per-position task's output '{task.Output}' must be class scores {(last ? "[batch, positions…, classes]" : "[batch, classes, positions…]")} with fixed axes behind the batch");
            long[] positions = [.. (last ? dims[1..^1] : dims[2..]).Select(d => d!.Value)];
            return (positions.Aggregate(1L, (a, d) => a * d), positions);
        }

        if (task.Kind == ModelTaskKind.Labels)
        {
            if (dims is not [_, > 0]) throw new NotDifferentiableException($"a multi-label task's output '{task.Output}' must be label scores [batch, labels]");
            return (dims[1]!.Value, []);
        }

        if (dims is null || dims.Length < 2 || dims.Skip(1).Any(d => d is not > 0))
            throw new NotDifferentiableException($"a regression task's output '{task.Output}' must have fixed axes behind the batch");
        long[] behind = [.. dims.Skip(1).Select(d => d!.Value)];
        return (behind.Aggregate(1L, (a, d) => a * d), behind);
    }
}
