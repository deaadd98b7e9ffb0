using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx;

/// <summary>The outputs of a multi-task model, read and checked against the graph (<see cref="UploadedClassifierOptions.Tasks"/>).</summary>
public sealed partial class UploadedClassifier
{
    /// <summary>
    /// Each declared task's output: a classifier task's float [batch, classes ≥ 2] scores (logits unless a Softmax
    /// makes them), a per-position task's float [batch, classes, positions…] scores (the classes on axis 1, PyTorch's
    /// layout for a per-position cross-entropy; logits unless a Softmax makes them) or [batch, positions…, classes] for a
    /// tagger's task, a multi-label task's float [batch, k] scores (logits unless a Sigmoid makes them), a regression task's
    /// float values with fixed axes behind the batch (read from the graph where the exporter left them symbolic). Empty
    /// when no tasks are declared.
    /// </summary>
    private static List<ModelTask> TasksOf(ModelProto model, UploadedClassifierOptions options)
    {
        if (options.Tasks.Count == 0) return [];
        if (options.Output is not null || options.ScoresAreLogits is not null || options.ClassAxisLast)
            throw new InvalidDataException("a multi-task model names its outputs in its tasks (ModelInterface:Tasks), not with Output, Scores or ClassAxis");
        if (options.Tasks.Count is < 2 or > GraphInterface.MaxTasks) throw new InvalidDataException($"a multi-task model trains 2 to {GraphInterface.MaxTasks} outputs, not {options.Tasks.Count}");
        var tasks = new List<ModelTask>();
        foreach (var (name, kind, weight) in options.Tasks)
        {
            var output = model.Graph.Output.FirstOrDefault(o => o.Name == name)
                ?? throw new InvalidDataException($"task '{name}': the graph has no output '{name}' (outputs: {string.Join(", ", model.Graph.Output.Select(o => o.Name))})");
            try
            {
                if (kind == ModelTaskKind.Classes)
                {
                    var (_, count, single) = ScoresOutput(model, name);
                    if (single) throw new InvalidDataException($"output '{name}' is {OnnxModelCheck.Describe(output)}; a classifier task's scores are float [batch, classes ≥ 2]");
                    tasks.Add(new ModelTask(name, count, [], weight, logits: !MadeAsProbabilities(model, name, sigmoid: false)));
                }
                else if (kind is ModelTaskKind.Positions or ModelTaskKind.Tags)
                {
                    var last = kind == ModelTaskKind.Tags;
                    var (_, classes, _) = PositionsOutput(model, name, classesLast: last, out var positions);
                    tasks.Add(new ModelTask(name, classes, positions, weight, logits: !MadeAsProbabilities(model, name, sigmoid: false), classAxisLast: last));
                }
                else if (kind == ModelTaskKind.Labels)
                {
                    var (_, labels, _) = ValuesOutput(model, name, regression: false, out _);
                    tasks.Add(new ModelTask(name, 0, [], weight, logits: !MadeAsProbabilities(model, name, sigmoid: true), labels: labels));
                }
                else
                {
                    var (_, values, _) = ValuesOutput(model, name, regression: true, out var dims);
                    tasks.Add(new ModelTask(name, 0, dims.Length > 0 ? dims : [values], weight));
                }
            }
            catch (Exception ex) when (ex is ArgumentException or InvalidDataException)
            {
                throw new InvalidDataException($"task '{name}': {ex.Message}", ex);
            }
        }

        if (tasks.Sum(t => (long)t.Width) > GraphInterface.MaxRegressionTargets + GraphInterface.MaxTasks)
            throw new InvalidDataException($"the tasks hold {tasks.Sum(t => (long)t.Width)} values of ground truth per row (at most {GraphInterface.MaxRegressionTargets + GraphInterface.MaxTasks})");
        return tasks;
    }
}
