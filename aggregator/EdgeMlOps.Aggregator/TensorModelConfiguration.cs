using System.Globalization;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;

namespace EdgeMlOps.Aggregator;

/// <summary>
/// <c>ModelInterface:Kind=tensors</c>: a model that is not a classifier, served by tensor names and not trained;
/// <c>ModelInterface:State</c> pairs an output fed back to an input per caller session (<c>h_in&gt;h_out,…</c>),
/// <c>ModelInterface:Outputs</c> names the outputs served (default: all), <c>ModelInterface:Embedding</c> a value of
/// the graph monitoring sketches (its width measured by a run), <c>ModelInterface:Scale</c> the normalization the
/// device applies to float inputs (<c>INPUT:AXIS:MEAN,…:STD,…</c>, several separated by <c>;</c>), <c>ModelInterface:Window</c>
/// the inputs a session streams in chunks along an axis (<c>INPUT:AXIS</c>), <c>ModelInterface:Preprocess</c> the file of
/// an ONNX graph the device runs before the model (its outputs feed the model inputs of the same names; callers feed its
/// inputs, which scalings and windows then name; a classifier takes it too). A classifier's keys are refused with it,
/// and these keys on a classifier.
/// </summary>
internal static class TensorModelConfiguration
{
    /// <summary>The keys (under <c>ModelInterface:</c>) that only a model served by tensor names takes.</summary>
    public static readonly string[] Keys = ["Outputs", "Embedding", "Scale", "Window"];

    public static (ModelSpec Model, UploadedClassifier? Source) Read(ConfigReader r, string path, string kind)
    {
        var fallback = ModelSpec.Mlp(784, [128], 10);
        r.Require(kind == "tensors", "ModelInterface:Kind", $"'{kind}' is not classifier, regression, multilabel, positions, multitask or tensors");
        foreach (var key in new[] { "Trainable", "Input", "Output", "Scores", "Optimizer", "ClassAxis", "Tasks", "AxisLengths", "MaxLoopTrips" })
        {
            r.Require(r.OptionalString("ModelInterface:" + key) is null, "ModelInterface:" + key, "does not apply to ModelInterface:Kind=tensors (served by tensor names, not trained)");
        }

        var states = States(r);
        var outputs = r.OptionalString("ModelInterface:Outputs")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var scalings = Scalings(r);
        var windows = Windows(r);
        if (kind != "tensors") return (fallback, null);
        var preprocessPath = r.OptionalString("ModelInterface:Preprocess");
        try
        {
            var bytes = File.ReadAllBytes(path);
            var preprocess = preprocessPath is null ? null : PreprocessFile(r, preprocessPath);
            var source = UploadedClassifier.OpenTensors(bytes, states, outputs);
            if (preprocess is not null) source = Declare(r, "ModelInterface:Preprocess", () => UploadedClassifier.OpenTensors(bytes, states, outputs, preprocess: preprocess)) ?? source;
            // Each declaration checked against the file's interface in memory, so that an error names its own key; the
            // file is read once more only to open it with what was accepted.
            var tensors = source.Spec.Graph!.Tensors!;
            var scaled = Declare(r, "ModelInterface:Scale", () => (tensors with { Scalings = scalings }).Scalings) ?? [];
            var windowed = Declare(r, "ModelInterface:Window", () => (tensors with { Windows = windows }).Windows) ?? [];
            var embedding = r.OptionalString("ModelInterface:Embedding") is { Length: > 0 } name
                ? Declare(r, "ModelInterface:Embedding", () => Registry.TensorModelProbe.MeasureEmbedding(bytes, tensors, name, source.Preprocess))
                : null;
            if (scaled.Count > 0 || windowed.Count > 0 || embedding is not null) source = UploadedClassifier.OpenTensors(bytes, states, outputs, embedding, scaled, windowed, source.Preprocess);
            return (source.Spec, source);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            r.Require(false, "Model", $"'{path}': {ex.Message}");
            return (fallback, null);
        }
    }

    /// <summary>The preprocessing graph's file (for a classifier too), or null with its error under <c>ModelInterface:Preprocess</c>.</summary>
    public static byte[]? PreprocessFile(ConfigReader r, string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > TensorPreprocess.MaxBytes) throw new InvalidDataException($"it has {info.Length} bytes (at most {TensorPreprocess.MaxBytes})");
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            r.Require(false, "ModelInterface:Preprocess", $"'{path}': {ex.Message}");
            return null;
        }
    }

    /// <summary>The declaration <paramref name="check"/> returns, or null with its error under <paramref name="key"/>.</summary>
    private static T? Declare<T>(ConfigReader r, string key, Func<T> check)
        where T : class
    {
        try
        {
            return check();
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidDataException)
        {
            r.Require(false, key, ex.Message.Replace("Invalid tensor interface: ", string.Empty, StringComparison.Ordinal));
            return null;
        }
    }

    /// <summary><c>image:1:0.485,0.456,0.406:0.229,0.224,0.225;reading:-1:20:5</c> — every malformed entry named.</summary>
    private static List<InputScaling> Scalings(ConfigReader r)
    {
        var result = new List<InputScaling>();
        foreach (var entry in (r.OptionalString("ModelInterface:Scale") ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split(':', StringSplitOptions.TrimEntries);
            try
            {
                if (parts.Length != 4 || !int.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var axis))
                    throw new ArgumentException("is not INPUT:AXIS:MEAN,…:STD,… (AXIS −1: one mean and deviation for every value)");
                result.Add(new InputScaling(parts[0], axis, Numbers(parts[2]), Numbers(parts[3])));
            }
            catch (ArgumentException ex)
            {
                r.Require(false, "ModelInterface:Scale", $"'{entry}': {ex.Message}");
            }
        }

        return result;
    }

    /// <summary><c>features:2;accel:1</c> — every malformed entry named.</summary>
    private static List<InputWindow> Windows(ConfigReader r)
    {
        var result = new List<InputWindow>();
        foreach (var entry in (r.OptionalString("ModelInterface:Window") ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = entry.Split(':', StringSplitOptions.TrimEntries);
            try
            {
                if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var axis)) throw new ArgumentException("is not INPUT:AXIS");
                result.Add(new InputWindow(parts[0], axis));
            }
            catch (ArgumentException ex)
            {
                r.Require(false, "ModelInterface:Window", $"'{entry}': {ex.Message}");
            }
        }

        return result;
    }

    private static float[] Numbers(string text) =>
        [.. text.Split(',', StringSplitOptions.TrimEntries).Select(v => float.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : throw new ArgumentException($"'{v}' is not a number"))];

    /// <summary><c>ModelInterface:State</c>: INPUT&gt;OUTPUT pairs, comma-separated — the state a model carries between a session's calls (any kind).</summary>
    public static List<(string Input, string Output)> States(ConfigReader r)
    {
        var states = new List<(string Input, string Output)>();
        foreach (var pair in (r.OptionalString("ModelInterface:State") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = pair.Split('>', StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && parts.All(p => p.Length > 0)) states.Add((parts[0], parts[1]));
            else r.Require(false, "ModelInterface:State", $"'{pair}' is not INPUT>OUTPUT");
        }

        return states;
    }
}
