using EdgeMlOps.Shared.Onnx.Proto;
using DataType = EdgeMlOps.Shared.Onnx.Proto.TensorProto.Types.DataType;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>
/// Generates a train-step graph from an inference graph by reverse-mode differentiation over ONNX. The result takes
/// the trained parameters, the model's own inputs, labels, a learning rate, a FedProx weight μ and the round-start
/// anchors, and returns each parameter after one SGD step (<c>{name}.new</c>), the batch loss and the number of
/// correct predictions — the interface <c>TrainStepModel</c> runs. Frozen initializers stay constants of the graph
/// and are evaluated forward only; nodes that no trained parameter reaches are never differentiated, so a model
/// with ops outside the rule set can still train the layers after them. Loops, scans and branches a trained parameter
/// reaches are unrolled first (<see cref="ControlFlowInlining"/>, level by level when nested), then recurrent layers (<see cref="RecurrentUnrolling"/>).
/// </summary>
public static class TrainStepGenerator
{
    public static GeneratedTrainStep Generate(ModelProto inference, TrainStepOptions options)
    {
        var model = inference.Clone();
        var graph = model.Graph;
        if (model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx") is null)
            throw new NotDifferentiableException("the model imports no default-domain (ai.onnx) opset");
        OpsetUpgrade.Apply(model); // 7–12: lifted to 13 for the train step only, or refused naming the op
        var opset = model.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version;
        var output = graph.Output.FirstOrDefault(o => o.Name == options.Output)
            ?? throw new NotDifferentiableException($"the model has no output '{options.Output}' (outputs: {string.Join(", ", graph.Output.Select(o => o.Name))})");
        var elementType = (DataType)(output.Type?.TensorType?.ElemType ?? 0);
        if (elementType is not (DataType.Float or DataType.Double))
            throw new NotDifferentiableException($"output '{output.Name}' is {elementType}; a loss needs a float or double output");

        var candidates = Candidates(graph, options, elementType);
        var depends = DependsOn(graph, candidates);
        var writer = new GraphWriter(graph, elementType);
        bool Reached(NodeProto node) => node.Input.Any(depends.Contains) || ControlFlowInlining.OuterReads(node).Any(depends.Contains);
        if (SequenceLowering.Apply(graph, writer) > 0) depends = DependsOn(graph, candidates); // a loop over a list's length: its trip count known
        if (options.MaxLoopTrips is { } bound && bound is < 1 or > ControlFlowInlining.MaxIterations)
            throw new NotDifferentiableException($"a loop bound of {bound} iterations: from 1 to {ControlFlowInlining.MaxIterations}");
        while (ControlFlowInlining.Apply(graph, writer, Reached, options.MaxLoopTrips) > 0) // a level of nesting per pass, within the unrolling budget
        {
            SequenceLowering.Apply(graph, writer); // lists the unrolled bodies built and read
            candidates = Candidates(graph, options, elementType); // loops unrolled, branches taken: their nodes (a recurrent one, control flow nested in them) are the graph's now
            depends = DependsOn(graph, candidates);
        }

        if (SequenceLowering.UnwrittenChoice(graph) is { } choice)
            throw NotDifferentiableException.ForNode(choice, "a branch the data decides, or a loop that stops early, carries a list whose tensors have different shapes, so which list the run holds cannot be written out for training; train only parameters after it");
        if (graph.Node.FirstOrDefault(n => SequenceLowering.Reads(n) && n.Input.Any(depends.Contains)) is { } unknownList)
            throw NotDifferentiableException.ForNode(unknownList, "the tensors this list holds are not known (tensors of different shapes that only the run orders or picks, or made where the graph cannot be followed), so it cannot be written out for training; train only parameters after this node");
        if (RecurrentUnrolling.Apply(graph, writer, node => node.Input.Any(depends.Contains)) > 0)
        {
            candidates = Candidates(graph, options, elementType); // the same tensors, now read through the unrolled steps
            depends = DependsOn(graph, candidates);
        }

        var facts = new GraphFacts(graph);
        var forward = graph.Node.ToList();
        var terms = TrainingLossWriter.Write(writer, facts, output, options);
        if (terms.Seeds.FirstOrDefault(s => !depends.Contains(s.Value)) is { Value: { } inertValue })
            throw new NotDifferentiableException($"no trainable parameter influences '{inertValue}'");

        var grads = terms.Seeds.GroupBy(s => s.Value, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(s => s.Seed).ToList(), StringComparer.Ordinal);
        Backward(forward, writer, facts, depends, grads);

        var trained = candidates.Where(grads.ContainsKey).ToList();
        if (options.Trainable is not null)
        {
            var inert = candidates.Except(trained).ToList();
            if (inert.Count > 0) throw new NotDifferentiableException($"parameter(s) {string.Join(", ", inert)} do not influence {string.Join(" or ", terms.Seeds.Select(t => $"'{t.Value}'").Distinct())}, so they cannot be trained");
        }

        WriteUpdates(graph, writer, trained, grads, terms, options);
        Prune(graph);
        if (opset < 16 && graph.Node.Any(n => n.Attribute.Any(a => a.Name == "reduction")))
            model.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version = 16; // scatter-add; 13–15 ops keep their meaning at 16
        model.DocString = $"EdgeMlOps train step generated from '{inference.Graph.Name}': {options.Optimizer} on {(options.Tasks.Count > 0 ? "the weighted losses of " + string.Join(", ", options.Tasks.Select(t => $"'{t.Output}'")) : $"{options.Loss} of '{options.Output}'")}, FedProx term; trains {trained.Count} tensor(s)";
        var dims = inference.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray(), StringComparer.Ordinal);
        return new GeneratedTrainStep(model, new Models.ParameterLayout([.. trained.Select(n => (n, dims[n]))]));
    }

    private static List<string> Candidates(GraphProto graph, TrainStepOptions options, DataType elementType)
    {
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (options.Trainable is { } named)
        {
            foreach (var name in named)
            {
                if (!initializers.TryGetValue(name, out var tensor)) throw new NotDifferentiableException($"'{name}' is not an initializer of the model, so it cannot be trained");
                if (tensor.DataType != (int)elementType) throw new NotDifferentiableException($"'{name}' is {(DataType)tensor.DataType}, not {elementType} like the output");
            }

            return [.. named.Distinct(StringComparer.Ordinal)];
        }

        // Every floating-point tensor fed to a differentiable input, in the graph or in a loop's or branch's body.
        // Rank-0 initializers are exporters' constants (epsilons, GELU's 0.5), not layers' parameters, and stay frozen.
        var fed = ControlFlowInlining.AllNodes(graph).SelectMany(n => n.Input.Select((input, i) => (input, i, n.OpType)))
            .Where(u => GradientRules.IsDifferentiableInput(u.OpType, u.i)).Select(u => u.input).ToHashSet(StringComparer.Ordinal);
        return [.. graph.Initializer.Where(t => t.DataType == (int)elementType && t.Dims.Count > 0 && fed.Contains(t.Name)).Select(t => t.Name)];
    }

    /// <summary>Every value a candidate parameter reaches through differentiable inputs (or, for control flow, through what its bodies read).</summary>
    private static HashSet<string> DependsOn(GraphProto graph, IEnumerable<string> parameters)
    {
        var depends = new HashSet<string>(parameters, StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (GradientRules.IsConstant(node.OpType)) continue;
            if (node.Input.Where((input, i) => depends.Contains(input) && GradientRules.IsDifferentiableInput(node.OpType, i)).Any()
                || (ControlFlowInlining.IsControlFlow(node) && ControlFlowInlining.OuterReads(node).Any(depends.Contains)))
                depends.UnionWith(node.Output.Where(o => o.Length > 0));
        }

        return depends;
    }

    private static void Backward(List<NodeProto> forward, GraphWriter writer, GraphFacts facts, HashSet<string> depends, Dictionary<string, List<string>> grads)
    {
        for (var i = forward.Count - 1; i >= 0; i--)
        {
            var node = forward[i];
            var outputGrads = node.Output.Select(o => grads.TryGetValue(o, out var parts) ? Total(writer, parts) : null).ToArray();
            if (outputGrads.All(g => g is null)) continue;
            if (!node.Input.Where((input, index) => depends.Contains(input) && GradientRules.IsDifferentiableInput(node.OpType, index)).Any()) continue;
            if (node.Domain is not ("" or "ai.onnx"))
                throw NotDifferentiableException.ForNode(node, $"ops of domain '{node.Domain}' have no gradient rules; train only parameters after this node");
            if (!GradientRules.TryGet(node.OpType, out var rule))
                throw NotDifferentiableException.ForNode(node, $"no gradient rule for {node.OpType}; train only parameters after this node, or use ops from: {string.Join(", ", GradientRules.Supported)} (and GRU, LSTM, RNN, unrolled over a fixed sequence length; Loop, Scan and If, unrolled where their trip counts and conditions are known)");
            rule(new GradientContext(node, writer, facts, outputGrads, depends.Contains, (value, grad) =>
            {
                if (!grads.TryGetValue(value, out var parts)) grads[value] = parts = [];
                parts.Add(grad);
            }));
        }
    }

    private static string Total(GraphWriter writer, List<string> parts)
    {
        if (parts.Count > 1)
        {
            var sum = writer.Node("Sum", parts);
            parts.Clear();
            parts.Add(sum);
        }

        return parts[0];
    }

    private static void WriteUpdates(GraphProto graph, GraphWriter w, List<string> trained, Dictionary<string, List<string>> grads, LossTerms terms, TrainStepOptions options)
    {
        var type = w.ElementType;
        var learningRate = AddInput(graph, ClassifierGraphs.LearningRateInput, type, []);
        var mu = AddInput(graph, ClassifierGraphs.ProximalMuInput, type, []);
        var step = options.Optimizer == DeviceOptimizer.Adam ? AddInput(graph, TrainStepOptions.OptimizerStepInput, type, []) : null;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var outputs = new List<ValueInfoProto>();
        foreach (var name in trained)
        {
            var tensor = initializers[name];
            graph.Initializer.Remove(tensor);
            var dims = tensor.Dims.ToArray();
            if (graph.Input.FirstOrDefault(i => i.Name == name) is { } listed) graph.Input.Remove(listed); // IR < 4 lists initializers as inputs too
            AddInput(graph, name, type, dims);
            var anchor = AddInput(graph, ClassifierGraphs.AnchorName(name), type, dims);
            var gradient = Total(w, grads[name]);
            var proximal = w.Node("Mul", [w.Node("Sub", [name, anchor]), mu]);
            var direction = Direction(graph, w, name, dims, w.Node("Add", [gradient, proximal]), step, options, outputs);
            var updated = ClassifierGraphs.UpdatedName(name);
            w.NodeTo(updated, "Sub", [name, w.Node("Mul", [direction, learningRate])]);
            outputs.Add(ValueInfo(updated, type, dims));
        }

        w.NodeTo(ClassifierGraphs.LossOutput, "Identity", [terms.Loss]);
        w.NodeTo(ClassifierGraphs.CorrectOutput, "Identity", [terms.Correct]);
        graph.Output.Clear();
        graph.Output.AddRange(outputs);
        graph.Output.Add(ValueInfo(ClassifierGraphs.LossOutput, type, []));
        graph.Output.Add(ValueInfo(ClassifierGraphs.CorrectOutput, type, []));
        if (w.Overflows.Count > 0) // a loop the data ends, unrolled to its declared bound: flag a batch that would run longer
        {
            w.NodeTo(ClassifierGraphs.LoopOverflowOutput, "Identity", [w.Overflows.Aggregate((a, b) => w.Node("Or", [a, b]))]);
            graph.Output.Add(ValueInfo(ClassifierGraphs.LoopOverflowOutput, DataType.Bool, []));
        }

        graph.ValueInfo.Clear(); // shapes of the inference graph's values no longer bind: parameters became inputs
    }

    /// <summary>The step direction the optimizer takes from gradient <paramref name="g"/>, writing its state updates.</summary>
    private static string Direction(GraphProto graph, GraphWriter w, string name, long[] dims, string g, string? step, TrainStepOptions options, List<ValueInfoProto> outputs)
    {
        string State(string suffix, string next)
        {
            var input = AddInput(graph, TrainStepOptions.StateName(name, suffix), w.ElementType, dims);
            var output = ClassifierGraphs.UpdatedName(input);
            w.NodeTo(output, "Identity", [next]);
            outputs.Add(ValueInfo(output, w.ElementType, dims));
            return input;
        }

        switch (options.Optimizer)
        {
            case DeviceOptimizer.Momentum:
            {
                var velocity = TrainStepOptions.StateName(name, "velocity");
                var next = w.Node("Add", [w.Node("Mul", [velocity, w.Scalar(options.Momentum)]), g]);
                State("velocity", next);
                return next;
            }

            case DeviceOptimizer.Adam:
            {
                var (beta1, beta2, epsilon) = TrainStepOptions.Adam;
                var (m, v) = (TrainStepOptions.StateName(name, "m"), TrainStepOptions.StateName(name, "v"));
                var mNext = w.Node("Add", [w.Node("Mul", [m, w.Scalar(beta1)]), w.Node("Mul", [g, w.Scalar(1 - (double)beta1)])]);
                var vNext = w.Node("Add", [w.Node("Mul", [v, w.Scalar(beta2)]), w.Node("Mul", [w.Node("Mul", [g, g]), w.Scalar(1 - (double)beta2)])]);
                State("m", mNext);
                State("v", vNext);
                var mHat = w.Node("Div", [mNext, w.Node("Sub", [w.Scalar(1), w.Node("Pow", [w.Scalar(beta1), step!])])]);
                var vHat = w.Node("Div", [vNext, w.Node("Sub", [w.Scalar(1), w.Node("Pow", [w.Scalar(beta2), step!])])]);
                return w.Node("Div", [mHat, w.Node("Add", [w.Node("Sqrt", [vHat]), w.Scalar(epsilon)])]);
            }

            default:
                return g;
        }
    }

    /// <summary>Drops nodes and initializers the train step's outputs do not need (the inference outputs' tails).</summary>
    private static void Prune(GraphProto graph)
    {
        var needed = new HashSet<string>(graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        var kept = new List<NodeProto>();
        for (var i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            if (!node.Output.Any(needed.Contains)) continue;
            kept.Add(node);
            needed.UnionWith(node.Input.Where(n => n.Length > 0).Concat(ControlFlowInlining.OuterReads(node))); // a kept Loop's or If's bodies read names of the graph too
        }

        kept.Reverse();
        graph.Node.Clear();
        graph.Node.AddRange(kept);
        var unused = graph.Initializer.Where(t => !needed.Contains(t.Name)).ToList();
        foreach (var tensor in unused) graph.Initializer.Remove(tensor);
    }

    private static string AddInput(GraphProto graph, string name, DataType type, long[] dims)
    {
        if (graph.Input.Any(i => i.Name == name)) throw new NotDifferentiableException($"the model already has an input named '{name}'");
        graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    private static ValueInfoProto ValueInfo(string name, DataType type, long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = dim });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }
}

/// <summary>A generated train-step graph and the layout of the parameters it trains (names, dims, places in the flat vector).</summary>
public sealed record GeneratedTrainStep(ModelProto Model, Models.ParameterLayout Layout)
{
    /// <summary>The trained parameters' names, in input order.</summary>
    public IReadOnlyList<string> Trained { get; } = [.. Layout.Tensors.Select(t => t.Name)];

    /// <summary>The trained parameters' values as the inference graph holds them, laid out by <see cref="Layout"/>.</summary>
    public float[] InitialValues(ModelProto inference)
    {
        var values = new float[Layout.TotalLength];
        var initializers = inference.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var tensor in Layout.Tensors) OnnxTensors.ReadFloats(initializers[tensor.Name], values.AsSpan(tensor.Offset, tensor.Length));
        return values;
    }
}
