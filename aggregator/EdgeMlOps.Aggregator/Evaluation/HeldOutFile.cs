using System.Text.Json;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// A held-out labelled set from a JSON-lines file (<c>Aggregator:Evaluation:DataFile</c>), one sample per
/// line: <c>{"features":[…],"label":3}</c> (or an uploaded model's inputs by name, <see cref="HeldOutRow"/>) — for a regressor <c>{"features":[…],"target":[…]}</c>, its true values —, optionally <c>"cohort":"hw=pi4"</c> (without one, samples are
/// grouped by their true class), and optionally <c>"attributes":{"age":"30-39","region":"north"}</c> (declared attributes
/// for the model card's subpopulation analysis: at most 16, names without '=', names and values of 1 to 64 characters).
/// Every bad line is reported with its number, up to
/// <see cref="MaxReportedErrors"/>, and none is used: a half-read evaluation set would judge versions wrongly.
/// </summary>
public static class HeldOutFile
{
    public const int MaxReportedErrors = 10;

    /// <summary>The evaluator for <paramref name="path"/>, or <see cref="InvalidDataException"/> listing what is wrong.</summary>
    public static IModelEvaluator Load(string path, ModelSpec model)
    {
        var features = new List<float[]>();
        var labels = new List<long>();
        var targets = new List<float>();
        var cohorts = new List<string>();
        var attributes = new List<IReadOnlyDictionary<string, string>>();
        var errors = new List<string>();
        var anyCohort = false;
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (Parse(line, model, out var row, out var label, out var target, out var cohort, out var declared) is { } error)
            {
                if (errors.Count < MaxReportedErrors) errors.Add($"line {number}: {error}");
                else if (errors.Count == MaxReportedErrors) errors.Add("… more");
                continue;
            }

            features.Add(row);
            labels.Add(label);
            targets.AddRange(target);
            cohorts.Add(cohort ?? (model.TakesTargets ? "no cohort" : "class=" + label.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            attributes.Add(declared);
            anyCohort |= cohort is not null;
        }

        if (errors.Count > 0) throw new InvalidDataException($"{path}: {string.Join("; ", errors)}");
        if (labels.Count == 0) throw new InvalidDataException($"{path}: no samples");
        // Samples of several lengths: each length scored on its own (LengthsEvaluator); one length: one evaluator.
        var truth = targets.ToArray();
        return LengthsEvaluator.Of([.. features.Select(f => f.Length)], model.InputDim, (rows, _) => model.TakesTargets
            ? new HeldOutTargetsEvaluator([.. rows.SelectMany(i => features[i])], [.. rows.SelectMany(i => truth.AsSpan(i * model.Targets, model.Targets).ToArray())], model.Targets, anyCohort ? [.. rows.Select(i => cohorts[i])] : null)
            : new HeldOutEvaluator([.. rows.SelectMany(i => features[i])], [.. rows.Select(i => labels[i])], anyCohort ? [.. rows.Select(i => cohorts[i])] : null, [.. rows.Select(i => attributes[i])]));
    }

    private static string? Parse(string line, ModelSpec model, out float[] row, out long label, out float[] target, out string? cohort, out IReadOnlyDictionary<string, string> attributes)
    {
        row = [];
        label = 0;
        target = [];
        cohort = null;
        attributes = new Dictionary<string, string>();
        try
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return "not a JSON object";
            if (HeldOutRow.Read(root, model, out row) is { } invalid) return invalid;

            if (model.TakesTargets)
            {
                if (ReadTarget(root, model, out target) is { } problem) return problem;
            }
            else if (!root.TryGetProperty("label", out var labelValue) || !labelValue.TryGetInt64(out label) || label < 0 || label >= model.Classes)
            {
                return $"'label' must be an integer in [0, {model.Classes})";
            }

            if (root.TryGetProperty("cohort", out var cohortValue))
            {
                if (cohortValue.ValueKind != JsonValueKind.String || cohortValue.GetString() is not { Length: > 0 and <= 128 } name) return "'cohort' must be a string of 1 to 128 characters";
                cohort = name;
            }

            if (root.TryGetProperty("attributes", out var declared))
            {
                if (ReadAttributes(declared, out var read) is { } problem) return problem;
                attributes = read;
            }

            return null;
        }
        catch (JsonException ex)
        {
            return "not JSON: " + ex.Message;
        }
    }

    /// <summary>A regressor's true values or a multi-label classifier's labels: <c>"target"</c>, an array of the model's target width of finite numbers (0 or 1 for labels).</summary>
    private static string? ReadTarget(JsonElement root, ModelSpec model, out float[] target)
    {
        target = [];
        var width = model.Targets;
        if (!root.TryGetProperty("target", out var values) || values.ValueKind != JsonValueKind.Array || values.GetArrayLength() != width)
            return model.IsMultiLabel ? $"'target' must be an array of {width} 0s and 1s, one per label (this model is a multi-label classifier)"
                : model.IsPerPosition ? $"'target' must be an array of {width} class ids, one per position (this model is a per-position classifier)"
                : model.IsMultiTask ? $"'target' must be an array of {width} numbers, each task's in order — {string.Join(", ", model.Graph!.Tasks.Select(t => t.TruthText))} (this model is a multi-task model)"
                : $"'target' must be an array of {width} numbers (this model is a regressor)";
        target = new float[width];
        var i = 0;
        foreach (var value in values.EnumerateArray())
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetSingle(out var y) || !float.IsFinite(y)) return $"target {i} is not a finite number";
            if (model.IsMultiLabel && y is not (0f or 1f)) return $"target {i} is {y}: a label is 0 or 1";
            if (model.IsPerPosition && !model.Graph!.IsPositionClass(y)) return $"target {i} is {y}: a position's class id is a whole number below {model.Graph!.PositionClasses}";
            target[i++] = y;
        }

        return model.TaskTargetProblem(target);
    }

    private const int MaxAttributes = 16;

    private static string? ReadAttributes(JsonElement declared, out Dictionary<string, string> attributes)
    {
        attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        if (declared.ValueKind != JsonValueKind.Object) return "'attributes' must be an object of strings";
        foreach (var a in declared.EnumerateObject())
        {
            if (a.Name is not { Length: > 0 and <= 64 } name || name.Contains('=', StringComparison.Ordinal)) return $"attribute name '{a.Name}' must be 1 to 64 characters without '='";
            if (a.Value.ValueKind != JsonValueKind.String || a.Value.GetString() is not { Length: > 0 and <= 64 } value) return $"attribute '{name}' must be a string of 1 to 64 characters";
            if (!attributes.TryAdd(name, value)) return $"attribute '{name}' is given twice";
            if (attributes.Count > MaxAttributes) return $"more than {MaxAttributes} attributes";
        }

        return null;
    }
}
