using System.Globalization;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Aggregator.Governance;

/// <summary>
/// The model card's "Interface and training" section, read from the version's own artifacts: what the served graph
/// takes and returns, the operators it runs, and which tensors the fleet trains through the train step (the inputs
/// that come with a FedProx anchor) against those that stay frozen.
/// </summary>
internal static class InterfaceCardSection
{
    public static ModelCard.Section For(byte[] inference, byte[]? trainStep, EdgeMlOps.Shared.Models.ModelSpec spec)
    {
        var inv = CultureInfo.InvariantCulture;
        var model = ClassifierGraphs.Parse(inference).Graph;
        var step = trainStep is null ? null : ClassifierGraphs.Parse(trainStep);
        var stepInputs = step?.Graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal) ?? [];
        var trained = step?.Graph.Input.Where(i => stepInputs.Contains(ClassifierGraphs.AnchorName(i.Name))).ToList() ?? [];
        var parameters = model.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        long Values(string name) => parameters.TryGetValue(name, out var t) ? t.Dims.Aggregate(1L, (a, d) => a * d) : 0;
        var frozen = model.Initializer.Where(t => trained.All(i => i.Name != t.Name)).ToList();
        var rows = new List<IReadOnlyList<string>>();
        rows.Add(spec.Graph is { Tensors: { } tensors }
            ? ["served as", "uploaded model, by tensor names", $"the file {EdgeMlOps.Shared.Hashing.ContentHash.Sha256Hex(inference)} byte for byte, not trained; callers feed {string.Join(", ", tensors.CallerInputs.Select(t => t.CanonicalText))} to POST /v1/infer"
                + (tensors.Preprocess is { } p ? $"; the device first runs the preprocessing graph {p.Sha256} (its own file, {p.Size.ToString("N0", inv)} bytes) on {string.Join(", ", p.Inputs.Select(i => $"'{i.Name}'"))}, feeding the model's {string.Join(", ", p.Outputs.Select(o => $"'{o}'"))}" : string.Empty)
                + (tensors.States.Count > 0 ? $"; state kept per session: {string.Join(", ", tensors.States.Select(s => $"{s.Output} → {s.Input}"))}" : string.Empty)
                + string.Concat(tensors.Scalings.Select(x => $"; the device normalizes '{x.Input}' (x − mean) / std {(x.Axis == -1 ? "over every value" : $"along axis {x.Axis}")}: mean {string.Join(", ", x.Mean.Select(v => v.ToString("0.####", inv)))}, std {string.Join(", ", x.Std.Select(v => v.ToString("0.####", inv)))}"))
                + string.Concat(tensors.Windows.Select(x => $"; sessions stream '{x.Input}' in chunks along axis {x.Axis}, the device keeping its window"))
                + (tensors.Embedding is { } e ? $"; monitoring sketches the embedding '{e.Name}' ({e.Width} values per row, the first {Math.Min(e.Width, EdgeMlOps.Shared.Models.TensorEmbedding.MaxMonitoredValues)} sketched)" : string.Empty)]
            : spec.Graph is { } graph
            ? ["served as", "uploaded graph", $"the file {graph.SourceSha256} with new values in its trained tensors only (version 1: the file itself); samples [{string.Join(", ", graph.SampleDims)}] into {(graph.Preprocess is { } f ? $"'{f.Inputs[0].Name}'" : $"'{graph.FeaturesInput}'")}, {(graph.Tasks.Count > 0 ? $"a multi-task model: {graph.ScoresKind}; trained with the weighted sum of each task's loss (softmax cross-entropy on a class id, binary cross-entropy on 0/1 labels, mean squared error on values) on the devices' targets in task order; scored by that sum and the {spec.AccuracyName}" : graph.PositionClasses > 0 ? $"a per-position classifier: {graph.ScoresKind} from '{graph.ScoresOutput}', trained with softmax cross-entropy per position on the devices' class ids; scored by cross-entropy and the share of positions right" : graph.RegressionTargets > 0 ? $"a regressor: {graph.ScoresKind} from '{graph.ScoresOutput}', trained with mean squared error on the devices' targets; scored by MSE and R²" : graph.MultiLabels > 0 ? $"a multi-label classifier: {graph.ScoresKind} from '{graph.ScoresOutput}', a label present above probability {EdgeMlOps.Runtime.InferenceModel.LabelThreshold.ToString(inv)}, trained with binary cross-entropy on the devices' 0/1 label vectors; scored by binary cross-entropy and the share of label decisions right" : $"class scores as {graph.ScoresKind} from '{graph.ScoresOutput}'")}"
                + (graph.AxisLengths.Count > 0 ? $"; the file's free axes pinned at the length the fleet serves and trains: {EdgeMlOps.Shared.Onnx.AxisLengths.Text(graph.AxisLengths, graph.Varying, graph.FeatureCountsByData ? graph.FeatureLengths : null)} (ModelInterface:AxisLengths; the file keeps them free)" : string.Empty)
                + (graph.MaxLoopTrips > 0 ? $"; a loop only the data ends is trained unrolled to {graph.MaxLoopTrips} iterations (ModelInterface:MaxLoopTrips), a batch whose loop runs longer refused on the device" : string.Empty)
                + (graph.Varying is { } varying ? $"; samples of {varying.Describe()}, each served, kept and trained at its own length (mini-batches of one length), monitored by {(graph.Preprocess is null ? $"its mean over '{varying.Name}'" : graph.FeatureLengths is { } made ? $"the mean over '{made.Name}' of the features the front end makes of it" : "the features the front end makes of it, of one shape whatever its length")}" : string.Empty)
                + (graph.ContextInputs.Count > 0 ? $"; each sample also carries the context inputs {string.Join(", ", graph.ContextInputs.Select(c => c.Description))} after its {graph.FeaturesLength.ToString("N0", inv)} features ({graph.SampleLength.ToString("N0", inv)} values per row; POST /v1/predict takes them by name in \"inputs\"), monitored and trained as part of the row" + graph.StatesText : string.Empty)
                + (graph.Preprocess is { } front ? $"; the device first runs the preprocessing graph {front.Sha256} (its own file, {front.Size.ToString("N0", inv)} bytes) on each sample, feeding the model's '{graph.FeaturesInput}' [{string.Join(", ", graph.FeatureDims)}]{(graph.FeatureLengths is not null ? $" at the longest (the front end {graph.FeatureLengthsText})" : string.Empty)} — serving and before every train step{(graph.ContextLength > 0 ? ", the context inputs fed as they are" : string.Empty)}; monitoring sketches {(graph.FeatureLengths is null ? "those " : "the mean of ")}{(graph.FeatureLength - graph.ContextLength).ToString("N0", inv)} features{(graph.FeatureLengths is { } mean ? $" over '{mean.Name}'" : string.Empty)}{(graph.ContextLength > 0 ? " and then the context values" : string.Empty)} ({spec.MonitoredWidth.ToString("N0", inv)} values)" : string.Empty)]
            : ["served as", "generated dense classifier", $"{spec}: rebuilt from the version's weights"]);
        foreach (var input in model.Input.Where(i => !parameters.ContainsKey(i.Name))) rows.Add(["input", input.Name, OnnxModelCheck.Describe(input)]);
        foreach (var output in model.Output) rows.Add(["output", output.Name, OnnxModelCheck.Describe(output)]);
        rows.Add(["operators", string.Empty, string.Join(", ", OnnxModelCheck.OpHistogram(ClassifierGraphs.Parse(inference)).Select(p => $"{p.Op} ×{p.Count}"))]);
        rows.Add(["trained", $"{trained.Count} tensors, {trained.Sum(i => Values(i.Name)).ToString("N0", inv)} values", string.Join(", ", trained.Select(i => $"{i.Name} {OnnxModelCheck.Describe(i)}"))]);
        rows.Add(["frozen", $"{frozen.Count} tensors, {frozen.Sum(t => Values(t.Name)).ToString("N0", inv)} values", string.Join(", ", frozen.Select(t => t.Name))]);
        rows.Add(["train step", string.Empty, step?.DocString ?? (spec.IsClassifier ? "none: served without training (ModelInterface:Trainable=none)" : "none: served by tensor names (ModelInterface:Kind=tensors), not trained")]);
        return new ModelCard.Section("Interface and training", Header: ["Item", "Name", "Detail"], Rows: rows);
    }
}
