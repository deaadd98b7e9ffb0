using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Agent.Rollouts;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;

namespace EdgeMlOps.Agent.Serving;

/// <summary>
/// The request path: one prediction with the served version — or, for a request in arm B of an A/B test, with the
/// rollout's target (the served version answers if the target fails) — recorded for its ground truth, and offered to
/// the shadow test, the monitoring window and the serving health. A streaming classifier's call in a session starts
/// from the session's state (<see cref="SessionState"/>); in an A/B test the whole session is in one arm, each
/// version carrying its own state (<see cref="SessionArms"/>), and a shadow test scores whole sessions with the
/// candidate's own state (<see cref="Shadow.ShadowStreams"/>).
/// </summary>
internal sealed class Predictor(ModelSlots slots, ServingHealth health, RolloutController rollouts, WindowProfiler profiler, SampleStore store, AgentCounters counters, RecurrentSessions sessions)
{
    /// <summary>Answers one request; the features array is kept (a prediction awaiting feedback holds it).</summary>
    /// <param name="features">The sample row; in a session its state inputs are overwritten with the session's state.</param>
    /// <param name="sessionId">A streaming classifier's session (its state carried from the session's last call), or null.</param>
    public PredictionResult Predict(float[] features, string? sessionId = null)
    {
        var model = slots.EnterServed() ?? throw new InvalidOperationException("No model is installed yet.");
        try
        {
            var inference = model.Inference.Value;
            if (inference.Tensors is not null) throw new ModelKindException("this model is served by tensor names: use Infer (POST /v1/infer)");
            if (inference.Spec.TakesTargets) throw new ModelKindException("this model is a regressor or a multi-label classifier: use PredictValues (POST /v1/predict answers its values or label probabilities)");
            if (!inference.Spec.TakesSampleOf(features.Length))
            {
                throw new ArgumentException($"Expected {inference.Spec.SampleSizeText} features, got {features.Length}.", nameof(features));
            }

            if (sessionId is not null) return InSession(model, features, sessionId);

            // A request in arm B of an A/B test is answered by the rollout's target; if it fails, by the served version.
            var id = Guid.NewGuid().ToString("N");
            if (rollouts.Experiment.ArmB(model.Announcement.Version, id) is { } experiment && experiment.Enter() is { } target)
            {
                try
                {
                    if (TryPredict(target, features, out var answer, out var took))
                    {
                        experiment.Answered(id, byB: true, took, answer.Labels[0]);
                        return Served(id, features, answer, experiment.B.Version, took);
                    }

                    experiment.B.Failed();
                }
                finally
                {
                    experiment.Exit();
                }
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            PredictionBatch batch;
            try
            {
                batch = FiniteAnswer.Of(inference.Predict(features, 1));
            }
            catch (Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
            {
                health.RecordError();
                throw;
            }

            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            rollouts.Experiment.For(model.Announcement.Version)?.Answered(id, byB: false, elapsed, batch.Labels[0]);
            rollouts.Shadow.Offer(model.Announcement.Version, id, features, batch.Labels[0], batch.Probabilities, elapsed);
            profiler.AddPrediction(model.Announcement, features, batch.Labels[0], batch.Probabilities.Length > 0 ? batch.Probabilities.Max() : float.NaN, elapsed, MonitoredFeatures.Of(inference.Spec, batch.Features, features));
            return Served(id, features, batch, model.Announcement.Version, elapsed);
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

    /// <summary>Why the served model refuses <paramref name="features"/> as ground truth — its front end does (<see cref="InferenceModel.RefusalOf"/>), or its answer is not finite (<see cref="FiniteAnswer"/>) —, or null; a refusal is counted.</summary>
    public string? Refusal(float[] features)
    {
        if (slots.EnterServed() is not { } model) return null;
        try
        {
            var why = model.Inference.Value.RefusalOf(features) ?? FiniteAnswer.For(model.Inference.Value, features);
            if (why is not null) Interlocked.Increment(ref counters.SamplesRefused);
            return why;
        }
        finally
        {
            model.Exit();
        }
    }

    /// <summary>One call of a streaming classifier's session: from its arm's state of the session, which its state outputs then replace.</summary>
    private PredictionResult InSession(InstalledModel model, float[] features, string sessionId)
    {
        var id = Guid.NewGuid().ToString("N");
        var call = SessionArms.Call(sessions, rollouts.Experiment, health, sessionId, model, features, m => FiniteAnswer.Of(m.Predict(features, 1)), b => b.States, (batch, reset, took) =>
        {
            rollouts.Shadow.Offer(model.Announcement.Version, id, features, batch.Labels[0], batch.Probabilities, took, new SessionCall(sessionId, reset));
            profiler.AddPrediction(model.Announcement, features, batch.Labels[0], batch.Probabilities.Max(), took, MonitoredFeatures.Of(model.Inference.Value.Spec, batch.Features, features));
        });
        call.Test?.Answered(id, call.ByB, call.Elapsed, call.Batch.Labels[0]);
        return Served(id, features, call.Batch, call.Version, call.Elapsed) with { StateReset = call.Reset };
    }

    /// <summary>Runs one inference of an A/B test's target; false when it cannot answer (the served version answers instead).</summary>
    private static bool TryPredict(InferenceModel inference, float[] features, out PredictionBatch batch, out TimeSpan elapsed)
    {
        batch = null!;
        elapsed = TimeSpan.Zero;
        if (!inference.Spec.TakesSampleOf(features.Length)) return false; // the target takes another number of features
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            batch = FiniteAnswer.Of(inference.Predict(features, 1));
            elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            return true;
        }
        catch (Exception ex) when (AnswerFailure.Is(ex))
        {
            return false; // the target's front end may refuse what the served version's takes
        }
    }

    /// <summary>Records a served prediction (its version answered it) so its ground truth can arrive later.</summary>
    private PredictionResult Served(string id, float[] features, PredictionBatch batch, ulong version, TimeSpan elapsed)
    {
        health.RecordPrediction(elapsed);
        store.AddPrediction(id, features, batch.Labels[0], version);
        Interlocked.Increment(ref counters.Predictions);
        return new PredictionResult(id, batch.Labels[0], batch.Probabilities, version);
    }
}
