using EdgeMlOps.Shared.Onnx.Proto;
using static EdgeMlOps.Shared.Onnx.OnnxGraphBuilder;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// The loss node chain of a train step: the scalar loss, the number of correct predictions, and the loss's gradient with
/// respect to each value it is taken on (one, or a multi-task step's every output).
/// </summary>
internal readonly record struct LossTerms(IReadOnlyList<(string Value, string Seed)> Seeds, string Loss, string Correct)
{
    public LossTerms(string value, string loss, string correct, string seed)
        : this([(value, seed)], loss, correct)
    {
    }
}

/// <summary>Writes the chosen loss on a model output (or on the logits under its final Softmax/LogSoftmax/Sigmoid).</summary>
internal static class TrainingLossWriter
{
    public static LossTerms Write(GraphWriter w, GraphFacts facts, ValueInfoProto output, TrainStepOptions options)
    {
        if (options.Tasks.Count > 0) return TasksLossWriter.Write(w, facts, options);
        var producer = Producer(facts, output.Name);
        switch (options.Loss)
        {
            case TrainingLoss.SoftmaxCrossEntropy:
            {
                var rank = facts.Rank(output.Name) ?? 2;
                var classAxis = options.ClassAxisLast ? rank - 1 : 1; // [batch, classes, positions…], or a tagger's [batch, positions…, classes]
                if (rank < 2 || (rank > 2 && !options.FloatClassIds))
                    throw new NotDifferentiableException($"softmax cross-entropy needs class scores [batch, classes] (or, per position, [batch, classes, positions…]); '{output.Name}' has rank {rank}");
                string labels;
                if (options.FloatClassIds)
                {
                    // One class id per position, kept as floats beside other models' targets: cast to int64 here.
                    AddLabels(w.Graph, options.LabelsInput, w.ElementType, output, rank: null, facts.InferredDims(output.Name), dropAxis: classAxis);
                    labels = w.Node("Cast", [options.LabelsInput], Int("to", (long)DataType.Int64));
                }
                else
                {
                    AddLabels(w.Graph, options.LabelsInput, DataType.Int64, output, rank: 1);
                    labels = options.LabelsInput;
                }

                return SoftmaxCrossEntropy(w, producer, output.Name, labels, rank, classAxis);
            }

            case TrainingLoss.BinaryCrossEntropy:
                return BinaryCrossEntropy(w, facts, output, producer, options);

            default:
                AddLabels(w.Graph, options.LabelsInput, w.ElementType, output, rank: null, facts.InferredDims(output.Name));
                return MeanSquaredError(w, output.Name, options.LabelsInput);
        }
    }

    /// <summary>What makes <paramref name="value"/>, looking through Identity nodes.</summary>
    internal static NodeProto? Producer(GraphFacts facts, string value)
    {
        var producer = facts.Producer(value);
        while (producer is { OpType: "Identity" } && facts.Producer(producer.Input[0]) is { } earlier) producer = earlier;
        return producer;
    }

    /// <summary>
    /// Softmax cross-entropy of int64 class ids <paramref name="labels"/> on <paramref name="output"/>'s scores of rank
    /// <paramref name="rank"/>, their classes on <paramref name="classAxis"/>; on the logits under a final Softmax or
    /// LogSoftmax over that axis (the numerically stable form).
    /// </summary>
    internal static LossTerms SoftmaxCrossEntropy(GraphWriter w, NodeProto? producer, string output, string labels, int rank, int classAxis)
    {
        var overClasses = producer is { OpType: "Softmax" or "LogSoftmax" } p && (rank == 2 || GraphFacts.AttributeInt(p, "axis", -1) is var axis && (axis == classAxis || axis == classAxis - rank));
        var logits = overClasses ? producer!.Input[0] : output;
        var logp = w.Node("LogSoftmax", [logits], Int("axis", classAxis));
        var classes = w.Node("Gather", [w.Shape(logits), w.Int64s(classAxis)], Int("axis", 0));
        // ONNX Runtime has OneHot with float values only; the one-hot rows are cast to the model's type. The
        // class axis is 1 — [batch, classes] rows, or [batch, classes, positions…] per position — or the last.
        var oneHot = w.Node("OneHot", [labels, classes, w.Int64s(0, 1)], Int("axis", classAxis));
        oneHot = w.Node("Cast", [oneHot], w.CastToElement());
        var batch = rank == 2
            ? w.Node("Cast", [w.Node("Gather", [w.Shape(logits), w.Int64Constant(0)], Int("axis", 0))], w.CastToElement())
            : w.Node("Cast", [w.Node("Div", [w.Node("Size", [logits]), w.Node("Gather", [w.Shape(logits), w.Int64Constant(classAxis)], Int("axis", 0))])], w.CastToElement()); // rows × positions
        var total = w.Node("ReduceSum", [w.Node("Mul", [oneHot, logp])], Int("keepdims", 0));
        var loss = w.Node("Neg", [w.Node("Div", [total, batch])]);
        var seed = w.Node("Div", [w.Node("Sub", [w.Node("Exp", [logp]), oneHot]), batch]);
        var predicted = w.Node("ArgMax", [logits], Int("axis", classAxis), Int("keepdims", 0));
        var correct = w.Node("ReduceSum", [w.Node("Cast", [w.Node("Equal", [predicted, labels])], w.CastToElement())], Int("keepdims", 0));
        return new LossTerms(logits, loss, correct, seed);
    }

    private static LossTerms BinaryCrossEntropy(GraphWriter w, GraphFacts facts, ValueInfoProto output, NodeProto? producer, TrainStepOptions options)
    {
        var z = producer is { OpType: "Sigmoid" } ? producer.Input[0] : output.Name;
        string y;
        if (options.ClassIdLabels)
        {
            if (facts.Rank(z) is int rank && rank != 2)
                throw new NotDifferentiableException($"binary cross-entropy on class ids needs one score per row [batch, 1]; '{z}' has rank {rank}");
            AddLabels(w.Graph, options.LabelsInput, DataType.Int64, output, rank: 1);
            y = w.Node("Cast", [w.Node("Unsqueeze", [options.LabelsInput, w.Int64s(1)])], w.CastToElement());
        }
        else
        {
            AddLabels(w.Graph, options.LabelsInput, w.ElementType, output, rank: null, facts.InferredDims(output.Name));
            y = options.LabelsInput;
        }

        return BinaryCrossEntropyOn(w, z, y);
    }

    /// <summary>Binary cross-entropy of labels <paramref name="y"/> (0 or 1, shaped like <paramref name="z"/>) on the logits <paramref name="z"/>, averaged over every element.</summary>
    internal static LossTerms BinaryCrossEntropyOn(GraphWriter w, string z, string y)
    {
        var count = w.CountOf(z);
        // log(1 + e^z) − y·z, written as max(z, 0) + log(1 + e^−|z|) − y·z so it never overflows.
        var softplus = w.Node("Add", [w.Node("Relu", [z]), w.Node("Log", [w.Node("Add", [w.Scalar(1), w.Node("Exp", [w.Node("Neg", [w.Node("Abs", [z])])])])])]);
        var perElement = w.Node("Sub", [softplus, w.Node("Mul", [y, z])]);
        var loss = w.Node("Div", [w.Node("ReduceSum", [perElement], Int("keepdims", 0)), count]);
        var seed = w.Node("Div", [w.Node("Sub", [w.Node("Sigmoid", [z]), y]), count]);
        var agree = w.Node("Equal", [w.Node("Greater", [z, w.Scalar(0)]), w.Node("Greater", [y, w.Scalar(0.5)])]);
        var correct = w.Node("ReduceSum", [w.Node("Cast", [agree], w.CastToElement())], Int("keepdims", 0));
        return new LossTerms(z, loss, correct, seed);
    }

    /// <summary>Mean squared error of <paramref name="output"/> against <paramref name="targets"/> of its shape.</summary>
    internal static LossTerms MeanSquaredError(GraphWriter w, string output, string targets)
    {
        var error = w.Node("Sub", [output, targets]);
        var count = w.CountOf(output);
        var loss = w.Node("Div", [w.Node("ReduceSum", [w.Node("Mul", [error, error])], Int("keepdims", 0)), count]);
        var seed = w.Node("Div", [w.Node("Mul", [w.Scalar(2), error]), count]);
        var correct = w.Node("Identity", [w.Scalar(0)]); // a regression has no "correct"; reported as 0
        return new LossTerms(output, loss, correct, seed);
    }

    /// <summary>
    /// Adds the labels input, shaped like the output (or its batch axis for class labels); an axis after the batch that
    /// the output declares symbolic but the graph fixes (<paramref name="inferred"/>) is fixed in the labels too.
    /// </summary>
    private static void AddLabels(GraphProto graph, string name, DataType type, ValueInfoProto output, int? rank, long?[]? inferred = null, int? dropAxis = null)
    {
        if (graph.Input.Any(i => i.Name == name)) throw new NotDifferentiableException($"the model already has an input named '{name}'; choose another labels input name");
        var declared = output.Type?.TensorType?.Shape;
        var shape = new TensorShapeProto();
        if (declared is not null)
        {
            foreach (var (dim, axis) in declared.Dim.Take(rank ?? declared.Dim.Count).Select((d, i) => (d, i)).Where(p => p.i != dropAxis))
            {
                shape.Dim.Add(axis > 0 && !dim.HasDimValue && inferred is { } fixedBy && fixedBy.Length == declared.Dim.Count && fixedBy[axis] > 0
                    ? new TensorShapeProto.Types.Dimension { DimValue = fixedBy[axis]!.Value }
                    : dim.Clone());
            }
        }
        else
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        }

        graph.Input.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        });
    }
}
