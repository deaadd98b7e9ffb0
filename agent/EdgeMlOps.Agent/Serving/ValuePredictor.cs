using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>A regressor's values (or a multi-label classifier's label probabilities) for the sample, and the id its ground truth (a target) is sent back with.</summary>
public sealed record ValuePrediction(string PredictionId, float[] Values, ulong ModelVersion)
{
    /// <summary>In a streaming model's session: whether this call started from zeros; null outside a session.</summary>
    public bool? StateReset { get; init; }
}

/// <summary>
/// The request path of a regressor or a multi-label classifier (<see cref="Shared.Models.ModelSpec.TakesTargets"/>):
/// its values (a multi-label classifier's label probabilities) with the served
/// version, recorded for their ground truth, counted in the monitoring window (the sample, or the features its front end
/// makes) and the serving health, and offered to a shadow test of a candidate regressor (its values compared, its
/// squared error paired with the served version's when the target arrives); in an A/B test a request in arm B is
/// answered by the rollout's target, and each arm's squared errors are counted when targets arrive. A streaming model's
/// call in a session starts from its arm's state of the session (<see cref="SessionArms"/>).
/// </summary>
internal sealed class ValuePredictor(ModelSlots slots, ServingHealth health, Rollouts.RolloutController rollouts, WindowProfiler profiler, SampleStore store, AgentCounters counters, RecurrentSessions sessions)
{
    /// <summary>Answers one request; the features array is kept (a prediction awaiting its target holds it).</summary>
    /// <param name="features">The sample row; in a session its state inputs are overwritten with the session's state.</param>
    /// <param name="sessionId">A streaming model's session (its state carried from the session's last call), or null.</param>
    public ValuePrediction Predict(float[] features, string? sessionId = null)
    {
        var model = slots.EnterServed() ?? throw new InvalidOperationException("No model is installed yet.");
        try
        {
            var inference = model.Inference.Value;
            if (!inference.Spec.TakesTargets) throw new ModelKindException("this model is neither a regressor nor a multi-label classifier: use Predict (POST /v1/predict answers its classes)");
            if (!inference.Spec.TakesSampleOf(features.Length)) throw new ArgumentException($"Expected {inference.Spec.SampleSizeText} features, got {features.Length}.", nameof(features));
            var version = model.Announcement.Version;
            var id = Guid.NewGuid().ToString("N");
            if (sessionId is not null)
            {
                var call = SessionArms.Call(sessions, rollouts.Experiment, health, sessionId, model, features, m => FiniteAnswer.Of(m.PredictValues(features, 1)), b => b.States, (answer, reset, took) =>
                {
                    rollouts.Shadow.Offer(version, id, features, -1, answer.Values, took, new SessionCall(sessionId, reset));
                    profiler.AddPrediction(model.Announcement, features, -1, float.NaN, took, MonitoredFeatures.Of(inference.Spec, answer.Features, features), answer.Monitored);
                });
                call.Test?.Answered(id, call.ByB, call.Elapsed, -1);
                return Served(id, features, call.Batch.Values, call.Version, call.Elapsed) with { StateReset = call.Reset };
            }

            // A request in arm B of an A/B test is answered by the rollout's target; if it cannot, by the served version.
            if (rollouts.Experiment.ArmB(version, id) is { } experiment && experiment.Enter() is { } target)
            {
                try
                {
                    if (Answer(target, features) is { } b)
                    {
                        experiment.Answered(id, byB: true, b.Elapsed, -1);
                        return Served(id, features, b.Values, experiment.B.Version, b.Elapsed);
                    }

                    experiment.B.Failed();
                }
                finally
                {
                    experiment.Exit();
                }
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            ValueBatch batch;
            try
            {
                batch = FiniteAnswer.Of(inference.PredictValues(features, 1));
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                health.RecordError();
                throw;
            }

            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            rollouts.Experiment.For(version)?.Answered(id, byB: false, elapsed, -1);
            rollouts.Shadow.Offer(version, id, features, -1, batch.Values, elapsed);
            profiler.AddPrediction(model.Announcement, features, -1, float.NaN, elapsed, MonitoredFeatures.Of(inference.Spec, batch.Features, features), batch.Monitored);
            return Served(id, features, batch.Values, version, elapsed);
        }
        catch (SampleRefusedException)
        {
            Interlocked.Increment(ref counters.SamplesRefused); // the front end made of its values what the signed interface does not take
            throw;
        }
        finally
        {
            model.Exit();
        }
    }

    /// <summary>An A/B test's target answering one request; null when it cannot (the served version answers instead).</summary>
    private static (float[] Values, TimeSpan Elapsed)? Answer(InferenceModel target, float[] features)
    {
        if (!target.Spec.TakesTargets || !target.Spec.TakesSampleOf(features.Length)) return null;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var values = FiniteAnswer.Of(target.PredictValues(features, 1)).Values;
            return (values, System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
        catch (Exception ex) when (AnswerFailure.Is(ex))
        {
            return null; // the target's front end may refuse what the served version's takes
        }
    }

    /// <summary>Records a served prediction (<paramref name="version"/> answered it) so its target can arrive later.</summary>
    private ValuePrediction Served(string id, float[] features, float[] values, ulong version, TimeSpan elapsed)
    {
        health.RecordPrediction(elapsed);
        store.AddPrediction(id, features, -1, version);
        Interlocked.Increment(ref counters.Predictions);
        return new ValuePrediction(id, values, version);
    }

    /// <summary>
    /// The error on <paramref name="target"/> of what <paramref name="version"/> answered for <paramref name="features"/>,
    /// run again (a model answers the same features the same way): the served version, or the target of an A/B test
    /// whose arm B answered — a mean squared error, a per-position classifier's share of positions wrong
    /// (<see cref="Shared.Models.ModelSpec.RowError"/>); null when neither runs any more. Nothing is counted or recorded.
    /// </summary>
    public double? ErrorAgain(float[] features, ulong version, float[] target)
    {
        if (slots.EnterServed() is not { } model) return null;
        try
        {
            if (model.Announcement.Version == version) return Answer(model.Inference.Value, features) is { } served ? model.Inference.Value.Spec.RowError(served.Values, target) : null;
            if (rollouts.Experiment.For(model.Announcement.Version) is not { } test || test.B.Version != version || test.Enter() is not { } arm) return null;
            try
            {
                return Answer(arm, features) is { } answered ? arm.Spec.RowError(answered.Values, target) : null;
            }
            finally
            {
                test.Exit();
            }
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
        if (target.Length is 0 or > Shared.Models.GraphInterface.MaxPositions) return $"a target has 1 to {Shared.Models.GraphInterface.MaxPositions} values, not {target.Length}";
        if (bad >= 0) return $"target[{bad}] is not a finite number";
        if (slots.EnterServed() is not { } model) return null;
        try
        {
            var spec = model.Inference.Value.Spec;
            if (!spec.TakesTargets) throw new ModelKindException("this model is not a regressor, a multi-label or a per-position classifier: its ground truth is a class label");
            if (target.Length != spec.Targets) return $"expected {spec.Targets} target values, got {target.Length}";
            if (spec.TaskTargetProblem(target) is { } task) return task;
            var notBinary = spec.IsMultiLabel ? Array.FindIndex(target, t => t is not (0f or 1f)) : -1;
            if (notBinary >= 0) return $"target[{notBinary}] is {target[notBinary]}: a multi-label classifier's target is 0 or 1 per label";
            var classes = spec.Graph!.PositionClasses;
            var notClass = spec.IsPerPosition ? Array.FindIndex(target, t => !spec.Graph.IsPositionClass(t)) : -1;
            return notClass >= 0 ? $"target[{notClass}] is {target[notClass]}: a per-position classifier's target is a class id (0 to {classes - 1}) per position" : null;
        }
        finally
        {
            model.Exit();
        }
    }
}
