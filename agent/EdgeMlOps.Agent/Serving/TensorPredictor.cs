using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>What a model served by tensor names answered: every declared output, and whether the session's state started from zeros.</summary>
/// <param name="Outputs">Every declared output.</param>
/// <param name="ModelVersion">The version that answered.</param>
/// <param name="StateReset">Whether the session's state started from zeros.</param>
/// <param name="WindowFilled">With streamed inputs in a session: how many positions of the windows hold streamed values (the least over the windowed inputs; a window is full at its length).</param>
public sealed record TensorAnswer(IReadOnlyList<NamedTensor> Outputs, ulong ModelVersion, bool StateReset, int? WindowFilled = null);

/// <summary>The request is for the other kind of model (a classifier's route for a tensors model, or the reverse).</summary>
public sealed class ModelKindException(string message) : InvalidOperationException(message);

/// <summary>
/// The request path of a model that is not a classifier: the caller's tensors by name, the recurrent state filled in
/// from the caller's session (or zeros), one run of the served version, the session's state kept for its next call,
/// and the run counted in the serving health (latency and errors feed the rollout gates) and in the monitoring window
/// (the declared outputs' values and the declared embedding's, <see cref="Runtime.MonitoredOutputs"/>).
/// </summary>
internal sealed class TensorPredictor(ModelSlots slots, ServingHealth health, AgentCounters counters, RecurrentSessions sessions, WindowProfiler profiler)
{
    /// <summary>The served version's tensor interface (read once when it was loaded), or null for a classifier or no model.</summary>
    public Shared.Models.TensorInterface? Served()
    {
        var model = slots.EnterServed();
        if (model is null) return null;
        try
        {
            return model.Inference.Value.Tensors;
        }
        finally
        {
            model.Exit();
        }
    }

    public TensorAnswer Infer(IReadOnlyList<NamedTensor> inputs, string? sessionId)
    {
        var model = slots.EnterServed() ?? throw new InvalidOperationException("No model is installed yet.");
        try
        {
            var inference = model.Inference.Value;
            var tensors = inference.Tensors ?? throw new ModelKindException("this model is a classifier: POST /v1/predict");
            var version = model.Announcement.Version;
            var stateInputs = tensors.States.Select(s => tensors.Inputs.Single(i => i.Name == s.Input)).ToList();
            if (sessionId is null)
            {
                // Without a session the caller may pass the state itself; what it leaves out starts from zeros.
                return new TensorAnswer(Run(model, inference, [.. inputs, .. stateInputs.Where(s => inputs.All(i => i.Name != s.Name)).Select(NamedTensor.Zeros)]), version, StateReset: false);
            }

            if (inputs.FirstOrDefault(i => stateInputs.Any(s => s.Name == i.Name)) is { } given)
                throw new ArgumentException($"input '{given.Name}' is the session's state, kept by the device: leave it out, or call without a session");
            var session = sessions.Enter(sessionId);
            lock (session)
            {
                var reset = session.Version != version || session.State.Count != stateInputs.Count;
                if (reset) session.Windows.Clear();
                var state = reset ? [.. stateInputs.Select(NamedTensor.Zeros)] : session.State;
                var windows = new Dictionary<string, StreamWindow>(StringComparer.Ordinal);
                foreach (var window in tensors.Windows)
                {
                    var chunk = inputs.FirstOrDefault(i => i.Name == window.Input) ?? throw new ArgumentException($"input '{window.Input}' is missing (a chunk of its window)");
                    windows[window.Input] = StreamWindows.Shift(window, tensors.Accepted.Single(i => i.Name == window.Input), session.Windows.GetValueOrDefault(window.Input), chunk);
                }

                var fed = inputs.Select(i => windows.TryGetValue(i.Name, out var w) ? w.Window : i);
                var outputs = Run(model, inference, [.. fed, .. state]);
                session.Version = version;
                session.State = [.. tensors.States.Select(s => outputs.Single(o => o.Name == s.Output) with { Name = s.Input })];
                foreach (var (name, window) in windows) session.Windows[name] = window; // only after the model ran on it
                return new TensorAnswer(outputs, version, reset, windows.Count > 0 ? windows.Values.Min(w => w.Filled) : null);
            }
        }
        finally
        {
            model.Exit();
        }
    }

    private IReadOnlyList<NamedTensor> Run(InstalledModel model, InferenceModel inference, IReadOnlyList<NamedTensor> inputs)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        IReadOnlyList<NamedTensor> outputs;
        NamedTensor? embedding;
        try
        {
            (outputs, embedding) = inference.RunWithEmbedding(inputs);
        }
        catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            health.RecordError();
            throw;
        }

        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        health.RecordPrediction(elapsed);
        Interlocked.Increment(ref counters.Predictions);
        foreach (var row in MonitoredOutputs.Rows(inference.Tensors!, outputs, embedding)) profiler.AddPrediction(model.Announcement, row, -1, float.NaN, elapsed);
        return outputs;
    }
}
