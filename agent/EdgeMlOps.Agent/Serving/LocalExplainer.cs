using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Explanations;

namespace EdgeMlOps.Agent.Serving;

/// <summary>Why an explanation or what-if was not given (expected failures, as values).</summary>
public enum ExplainRefusal
{
    None,
    NoModel,
    WrongWidth,
    BadRequest,
    NoBackground,
    Busy,
}

/// <summary>A Shapley explanation of the served version's prediction, for one class.</summary>
public sealed record LocalExplanation(ulong ModelVersion, long Label, int Class, ShapleyExplanation Shapley, TimeSpan Took);

/// <summary>The served version's answer for a row, and for the row with some inputs changed or one input swept.</summary>
public sealed record WhatIfAnswer(ulong ModelVersion, PredictionBatch Original, PredictionBatch Changed, int SweepFeature, float[] SweepValues, PredictionBatch? Sweep);

/// <summary>
/// Individual explanations on the device (<c>POST /v1/explain</c>, <c>POST /v1/whatif</c>): Shapley values of a
/// prediction of the served version against the device's own newest labelled samples, and what-if answers. Nothing
/// here leaves the device or touches the sample store, and it runs off the request path's model lease only for as long
/// as it computes; the policy bounds what one request can cost, and one runs at a time.
/// </summary>
internal sealed class LocalExplainer(ModelSlots slots, SampleStore store, ExplanationPolicy policy)
{
    private readonly SemaphoreSlim _one = new(1, 1);

    public ExplainRefusal TryExplain(float[] features, int? forClass, out LocalExplanation? explanation, out string reason)
    {
        explanation = null;
        if (!_one.Wait(0)) return Refuse(ExplainRefusal.Busy, "another explanation is running on this device; retry later", out reason);
        var model = slots.EnterServed();
        try
        {
            if (model is null) return Refuse(ExplainRefusal.NoModel, "no model installed yet", out reason);
            var inference = model.Inference.Value;
            if (CheckRow(inference, features, out reason) is var refused and not ExplainRefusal.None) return refused;
            if (forClass is { } k && (k < 0 || k >= inference.Spec.Classes)) return Refuse(ExplainRefusal.BadRequest, $"class {k} is outside [0, {inference.Spec.Classes})", out reason);
            var background = store.LoadSamples(inference.Spec.InputDim, policy.BackgroundRows);
            if (background.Count == 0)
            {
                return Refuse(ExplainRefusal.NoBackground, "no labelled samples on this device yet: Shapley values are measured against the device's own data (send ground truth to /v1/feedback first)", out reason);
            }

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var label = FiniteAnswer.Of(inference.Predict(features, 1)).Labels[0];
            var shapley = ShapleyExplainer.Explain(inference, features, background.Features, background.Count, new ShapleyOptions
            {
                ExactUpToFeatures = policy.ExactUpToFeatures,
                MaxSamples = policy.MaxCoalitions,
                Seed = 1,
            });
            if (!shapley.Output.Concat(shapley.BaseValues).Concat(shapley.Values.SelectMany(v => v)).All(double.IsFinite))
            {
                return Refuse(ExplainRefusal.BadRequest, "the model's answer to a mix of this sample with the device's data is not a finite number: its values overflow the model's arithmetic", out reason);
            }

            explanation = new LocalExplanation(model.Announcement.Version, label, forClass ?? (int)label, shapley, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            reason = string.Empty;
            return ExplainRefusal.None;
        }
        catch (SampleRefusedException ex)
        {
            return FrontEndRefused(ex, out reason);
        }
        finally
        {
            model?.Exit();
            _one.Release();
        }
    }

    public ExplainRefusal TryWhatIf(float[] features, IReadOnlyList<(int Feature, float Value)> changes, int sweepFeature, float[] sweepValues, out WhatIfAnswer? answer, out string reason)
    {
        answer = null;
        var model = slots.EnterServed();
        try
        {
            if (model is null) return Refuse(ExplainRefusal.NoModel, "no model installed yet", out reason);
            var inference = model.Inference.Value;
            var width = inference.Spec.InputDim;
            if (CheckRow(inference, features, out reason) is var refused and not ExplainRefusal.None) return refused;
            if (changes.Count == 0 && sweepValues.Length == 0) return Refuse(ExplainRefusal.BadRequest, "say what to change: 'set' {\"feature index\": value, …} and/or 'sweep' {\"feature\": k, \"values\": […]}", out reason);
            foreach (var (feature, _) in changes)
            {
                if ((uint)feature >= (uint)width) return Refuse(ExplainRefusal.BadRequest, $"feature {feature} is outside [0, {width})", out reason);
            }

            if (sweepValues.Length > 0 && (uint)sweepFeature >= (uint)width) return Refuse(ExplainRefusal.BadRequest, $"sweep feature {sweepFeature} is outside [0, {width})", out reason);
            if (sweepValues.Length > policy.MaxSweepValues) return Refuse(ExplainRefusal.BadRequest, $"a sweep takes at most {policy.MaxSweepValues} values", out reason);

            var changed = (float[])features.Clone();
            foreach (var (feature, value) in changes) changed[feature] = value;
            PredictionBatch? sweep = null;
            if (sweepValues.Length > 0)
            {
                var rows = new float[sweepValues.Length * width];
                for (var i = 0; i < sweepValues.Length; i++)
                {
                    changed.CopyTo(rows, i * width);
                    rows[i * width + sweepFeature] = sweepValues[i];
                }

                sweep = FiniteAnswer.Of(inference.Predict(rows, sweepValues.Length));
            }

            answer = new WhatIfAnswer(model.Announcement.Version, FiniteAnswer.Of(inference.Predict(features, 1)), FiniteAnswer.Of(inference.Predict(changed, 1)), sweepFeature, sweepValues, sweep);
            reason = string.Empty;
            return ExplainRefusal.None;
        }
        catch (SampleRefusedException ex)
        {
            return FrontEndRefused(ex, out reason);
        }
        finally
        {
            model?.Exit();
        }
    }

    private static ExplainRefusal CheckRow(InferenceModel inference, float[] features, out string reason) =>
        features.Length == inference.Spec.InputDim
            ? Refuse(ExplainRefusal.None, string.Empty, out reason)
            : Refuse(ExplainRefusal.WrongWidth, $"expected {inference.Spec.InputDim} features, got {features.Length}", out reason);

    /// <summary>
    /// A sample the question needs (the one asked about, a changed one, a mix with the device's data) the model refuses —
    /// its front end does, or its answer is not finite (<see cref="FiniteAnswer"/>): the question cannot be answered, saying why.
    /// </summary>
    private static ExplainRefusal FrontEndRefused(SampleRefusedException ex, out string reason) =>
        Refuse(ExplainRefusal.BadRequest, $"the model refuses a sample this needs: {ex.Message}", out reason);

    private static ExplainRefusal Refuse(ExplainRefusal refusal, string why, out string reason)
    {
        reason = why;
        return refusal;
    }
}
