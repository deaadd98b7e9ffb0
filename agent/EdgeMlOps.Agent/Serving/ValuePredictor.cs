using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>A regressor's values (or a multi-label classifier's label probabilities) for the sample, and the id its ground truth (a target) is sent back with.</summary>
public sealed record ValuePrediction(string PredictionId, float[] Values, ulong ModelVersion);

/// <summary>
/// The request path of a regressor or a multi-label classifier (<see cref="Shared.Models.ModelSpec.TakesTargets"/>):
/// its values (a multi-label classifier's label probabilities) with the served
/// version, recorded for their ground truth, counted in the monitoring window (the sample, or the features its front end
/// makes) and the serving health, and offered to a shadow test of a candidate regressor (its values compared, its
/// squared error paired with the served version's when the target arrives). A/B tests split class labels and are not
/// run for a regressor.
/// </summary>
internal sealed class ValuePredictor(ModelSlots slots, ServingHealth health, Rollouts.RolloutController rollouts, WindowProfiler profiler, SampleStore store, AgentCounters counters)
{
    /// <summary>Answers one request; the features array is kept (a prediction awaiting its target holds it).</summary>
    public ValuePrediction Predict(float[] features)
    {
        var model = slots.EnterServed() ?? throw new InvalidOperationException("No model is installed yet.");
        try
        {
            var inference = model.Inference.Value;
            if (!inference.Spec.TakesTargets) throw new ModelKindException("this model is neither a regressor nor a multi-label classifier: use Predict (POST /v1/predict answers its classes)");
            if (features.Length != inference.Spec.InputDim) throw new ArgumentException($"Expected {inference.Spec.InputDim} features, got {features.Length}.", nameof(features));
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            ValueBatch batch;
            try
            {
                batch = inference.PredictValues(features, 1);
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                health.RecordError();
                throw;
            }

            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            var version = model.Announcement.Version;
            var id = Guid.NewGuid().ToString("N");
            rollouts.Shadow.Offer(version, id, features, -1, batch.Values, elapsed);
            profiler.AddPrediction(model.Announcement, features, -1, float.NaN, elapsed, batch.Features);
            health.RecordPrediction(elapsed);
            store.AddPrediction(id, features, -1, version);
            Interlocked.Increment(ref counters.Predictions);
            return new ValuePrediction(id, batch.Values, version);
        }
        finally
        {
            model.Exit();
        }
    }

    /// <summary>
    /// The values <paramref name="version"/> answered for <paramref name="features"/>, run again (the model is
    /// deterministic) when it is still the served version — what its error on the target is measured on; null otherwise.
    /// Nothing is counted or recorded.
    /// </summary>
    public float[]? Served(float[] features, ulong version)
    {
        if (slots.EnterServed() is not { } model) return null;
        try
        {
            var inference = model.Inference.Value;
            return model.Announcement.Version == version && inference.Spec.TakesTargets && features.Length == inference.Spec.InputDim
                ? inference.PredictValues(features, 1).Values
                : null;
        }
        finally
        {
            model.Exit();
        }
    }

    /// <summary>
    /// Why <paramref name="target"/> cannot be ground truth (null: it can): finite values, one per value the served
    /// regressor predicts — for a multi-label classifier one 0 or 1 per label. Before any model is installed only the
    /// values are checked (training reads targets of the model's width only). Throws <see cref="ModelKindException"/>
    /// when the served model takes class labels.
    /// </summary>
    public string? Problem(float[] target)
    {
        var bad = Array.FindIndex(target, t => !float.IsFinite(t));
        if (target.Length is 0 or > Shared.Models.GraphInterface.MaxRegressionTargets) return $"a target has 1 to {Shared.Models.GraphInterface.MaxRegressionTargets} values, not {target.Length}";
        if (bad >= 0) return $"target[{bad}] is not a finite number";
        if (slots.EnterServed() is not { } model) return null;
        try
        {
            var spec = model.Inference.Value.Spec;
            if (!spec.TakesTargets) throw new ModelKindException("this model is not a regressor or a multi-label classifier: its ground truth is a class label");
            if (target.Length != spec.Targets) return $"expected {spec.Targets} target values, got {target.Length}";
            var notBinary = spec.IsMultiLabel ? Array.FindIndex(target, t => t is not (0f or 1f)) : -1;
            return notBinary >= 0 ? $"target[{notBinary}] is {target[notBinary]}: a multi-label classifier's target is 0 or 1 per label" : null;
        }
        finally
        {
            model.Exit();
        }
    }
}
