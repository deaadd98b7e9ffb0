using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>What a model served by tensor names answered: every declared output, and whether the session's state started from zeros.</summary>
public sealed record TensorAnswer(IReadOnlyList<NamedTensor> Outputs, ulong ModelVersion, bool StateReset);

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
                var state = reset ? [.. stateInputs.Select(NamedTensor.Zeros)] : session.State;
                var outputs = Run(model, inference, [.. inputs, .. state]);
                session.Version = version;
                session.State = [.. tensors.States.Select(s => outputs.Single(o => o.Name == s.Output) with { Name = s.Input })];
                return new TensorAnswer(outputs, version, reset);
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
