using System.Globalization;

namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// A rule-based baseline the agent runs beside the model, so the model's business value is
/// measured against something simple on the same traffic: <c>constant:C</c> (always class C), or
/// <c>threshold:F:T:A:B</c> (class A when feature F exceeds T, else B).
/// </summary>
public sealed class BaselineRule
{
    private readonly Func<ReadOnlyMemory<float>, long> _predict;

    private BaselineRule(string text, Func<ReadOnlyMemory<float>, long> predict)
    {
        Text = text;
        _predict = predict;
    }

    public string Text { get; }

    public long Predict(ReadOnlyMemory<float> features) => _predict(features);

    public static BaselineRule Parse(string text)
    {
        var parts = text.Split(':');
        static long Class(string s) => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var c) ? c : throw new FormatException($"'{s}' is not a class index");
        switch (parts[0])
        {
            case "constant" when parts.Length == 2:
                var constant = Class(parts[1]);
                return new BaselineRule(text, _ => constant);
            case "threshold" when parts.Length == 5:
                var feature = int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var f) ? f : throw new FormatException($"'{parts[1]}' is not a feature index");
                var threshold = float.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && float.IsFinite(t) ? t : throw new FormatException($"'{parts[2]}' is not a number");
                var above = Class(parts[3]);
                var below = Class(parts[4]);
                return new BaselineRule(text, x => feature < x.Length && x.Span[feature] > threshold ? above : below);
            default:
                throw new FormatException($"'{text}' is neither constant:C nor threshold:FEATURE:VALUE:CLASS_ABOVE:CLASS_BELOW");
        }
    }
}

/// <summary>
/// A business KPI computed from counters devices report (no raw data): <c>share:C</c> (share of
/// predictions of class C, e.g. transactions flagged), <c>accuracy</c> (on ground truth), or
/// <c>cost:T&gt;P=COST,…</c> (mean cost per labelled prediction from the confusion counts; cells not
/// listed cost nothing).
/// </summary>
public sealed class KpiDefinition
{
    private readonly Func<long[], long[], long, double> _evaluate;

    private KpiDefinition(string name, string text, Func<long[], long[], long, double> evaluate)
    {
        Name = name;
        Text = text;
        _evaluate = evaluate;
    }

    public string Name { get; }

    public string Text { get; }

    /// <summary>The KPI of the model (<paramref name="baseline"/> false) or of the on-device baseline.</summary>
    public double Evaluate(WindowProfile profile, bool baseline) =>
        baseline
            ? _evaluate(profile.BaselinePredictedClasses, profile.BaselineConfusion, profile.BaselinePredictedClasses.Sum())
            : _evaluate(profile.PredictedClasses, profile.Confusion, profile.Predictions);

    public static KpiDefinition Parse(string name, string text, int classes)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? text : text[..colon];
        var argument = colon < 0 ? string.Empty : text[(colon + 1)..];
        int Class(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < classes ? c : throw new FormatException($"'{s}' is not a class index below {classes}");
        switch (kind)
        {
            case "share":
                var c = Class(argument);
                return new KpiDefinition(name, text, (predicted, _, total) => total == 0 ? double.NaN : (double)predicted[c] / total);
            case "accuracy" when argument.Length == 0:
                return new KpiDefinition(name, text, (_, confusion, _) =>
                {
                    var outcomes = confusion.Sum();
                    return outcomes == 0 ? double.NaN : (double)Enumerable.Range(0, classes).Sum(k => confusion[k * classes + k]) / outcomes;
                });
            case "cost":
                var costs = CostMatrix.Parse(argument, classes);
                return new KpiDefinition(name, text, (_, confusion, _) =>
                {
                    var outcomes = confusion.Sum();
                    if (outcomes == 0) return double.NaN;
                    var cells = costs.Cells;
                    var total = 0.0;
                    for (var i = 0; i < confusion.Length; i++) total += confusion[i] * cells[i];
                    return total / outcomes;
                });
            default:
                throw new FormatException($"KPI '{name}': '{text}' is not share:CLASS, accuracy or cost:TRUE>PREDICTED=COST,...");
        }
    }
}
