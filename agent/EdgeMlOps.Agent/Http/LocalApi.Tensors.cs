using System.Text.Json;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// <c>POST /v1/infer</c> and <c>POST /v1/infer/bin</c>: a model that is not a classifier, fed by tensor names as JSON
/// (<see cref="TensorJson"/>) or compact binary (<see cref="TensorBinary"/>), answered as JSON.
/// </summary>
public sealed partial class LocalApi
{
    private int Infer(ReadOnlySpan<byte> body, Utf8JsonWriter json, bool binary)
    {
        if (_agent.CurrentModel is null) return Error(json, 503, "no model installed yet");
        if (_agent.ServedTensors is not { } declared) return Error(json, 409, "this model is a classifier: POST /v1/predict with {\"features\": [...]}");
        var parsed = binary
            ? TensorBinary.TryParse(body, declared, out var inputs, out var session, out var error)
            : TensorJson.TryParse(body, declared, out inputs, out session, out error);
        if (!parsed) return Error(json, 400, error!);
        Serving.TensorAnswer answer;
        try
        {
            answer = _agent.Infer(inputs, session);
        }
        catch (ArgumentException ex)
        {
            return Error(json, 422, ex.Message);
        }
        catch (Serving.ModelKindException ex)
        {
            return Error(json, 409, ex.Message); // the served version changed kind between the check and the run
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException ex)
        {
            // Inputs of the declared types and shapes that the model itself cannot run (e.g. batches that disagree):
            // counted as an inference error (the rollout gates read it) and said, rather than a bare "internal error".
            return Error(json, 500, "the model failed on these inputs: " + ex.Message);
        }

        json.WriteNumber("modelVersion", answer.ModelVersion);
        if (session is not null)
        {
            json.WriteString("session", session);
            json.WriteBoolean("stateReset", answer.StateReset);
            if (answer.WindowFilled is { } filled) json.WriteNumber("windowFilled", filled);
        }

        TensorJson.WriteOutputs(json, answer.Outputs);
        return 200;
    }

    /// <summary>A 409 for a classifier's route while the served model is one fed by tensor names, else null.</summary>
    private int? NotAClassifier(Utf8JsonWriter json) =>
        _agent.CurrentModel?.Architecture.Graph?.Tensors is null ? null : Error(json, 409, "this model is served by tensor names: POST /v1/infer (GET /v1/model shows its inputs and outputs)");

    /// <summary>The graph the device runs on what callers feed before the model (its sha256 pinned by the signed interface); nothing when none.</summary>
    private static void WritePreprocess(Utf8JsonWriter w, Shared.Protocol.V1.TensorPreprocessSpec? preprocess)
    {
        if (preprocess is null) return;
        w.WriteStartObject("preprocess");
        w.WriteString("sha256", preprocess.Sha256);
        w.WriteStartArray("feeds");
        foreach (var output in preprocess.Outputs) w.WriteStringValue(output);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A tensor's name, element type and shape (under <paramref name="shapeKey"/>) as properties of the object being written.</summary>
    private static void WriteSignature(Utf8JsonWriter w, string name, string type, string shapeKey, IEnumerable<long> dims)
    {
        w.WriteString("name", name);
        w.WriteString("type", type);
        w.WriteStartArray(shapeKey);
        foreach (var d in dims) w.WriteNumberValue(d);
        w.WriteEndArray();
    }

    /// <remarks><paramref name="accepted"/>: what callers feed (<see cref="Shared.Models.TensorInterface.Accepted"/> — with a preprocessing graph, its inputs in place of the model inputs it makes).</remarks>
    private static void WriteTensorInterface(Utf8JsonWriter w, Shared.Protocol.V1.TensorInterfaceSpec tensors, IReadOnlyList<Shared.Models.TensorSignature> accepted)
    {
        w.WriteStartObject("tensors");
        var inputs = accepted.Select(t => (t.Name, Type: t.Type.ToString().ToLowerInvariant(), t.Dims));
        foreach (var (name, list) in new[] { ("inputs", inputs), ("outputs", tensors.Outputs.Select(t => (t.Name, t.Type, Dims: (IReadOnlyList<long>)t.Dims))) })
        {
            w.WriteStartArray(name);
            foreach (var t in list)
            {
                w.WriteStartObject();
                WriteSignature(w, t.Name, t.Type, "dims", t.Dims);
                w.WriteBoolean("state", tensors.States.Any(s => s.Input == t.Name || s.Output == t.Name));
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteStartArray("scalings"); // normalization the device applies before the model: callers send raw values
        foreach (var scaling in tensors.Scalings)
        {
            w.WriteStartObject();
            w.WriteString("input", scaling.Input);
            w.WriteNumber("axis", scaling.Axis);
            foreach (var (name, values) in new[] { ("mean", scaling.Mean), ("std", scaling.Std) })
            {
                w.WriteStartArray(name);
                foreach (var v in values) w.WriteNumberValue(v);
                w.WriteEndArray();
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("windows"); // inputs a session streams in chunks; the device keeps the window
        foreach (var window in tensors.Windows)
        {
            w.WriteStartObject();
            w.WriteString("input", window.Input);
            w.WriteNumber("axis", window.Axis);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        WritePreprocess(w, tensors.Preprocess);

        if (tensors.Embedding.Length > 0)
        {
            // What monitoring sketches of each call besides the outputs; never in an answer.
            w.WriteStartObject("embedding");
            w.WriteString("name", tensors.Embedding);
            w.WriteNumber("width", tensors.EmbeddingWidth);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }
}
