using System.Globalization;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>
/// What an A/B test or a bandit compares, as successes out of trials per arm: ground-truth accuracy (correct of
/// labelled), or a share KPI (requests answered with class C, of requests served — or not C when lower is better).
/// Both are proportions, so the same fixed-horizon, sequential and Thompson-sampling machinery reads either.
/// </summary>
public sealed record ExperimentMetric(string Name, int? ShareClass)
{
    public static readonly ExperimentMetric Accuracy = new("accuracy", null);

    /// <summary><c>accuracy</c> or <c>share:C</c>; anything else is an <see cref="ArgumentException"/>.</summary>
    public static ExperimentMetric Parse(string? text)
    {
        if (string.IsNullOrEmpty(text) || text == "accuracy") return Accuracy;
        if (text.StartsWith("share:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < 256)
        {
            return new ExperimentMetric(text, c);
        }

        throw new ArgumentException($"experiment: metric '{text}' is not 'accuracy' or 'share:C' (C a class below 256)");
    }

    /// <summary>Successes and trials of one arm.</summary>
    public (long Successes, long Trials) Count(ArmCounts? arm, bool higherIsBetter)
    {
        if (arm is null) return (0, 0);
        if (ShareClass is not { } c) return ((long)arm.Correct, (long)arm.Labelled);
        var hits = c < arm.Predicted.Count ? (long)arm.Predicted[c] : 0;
        var served = (long)arm.Served;
        return (higherIsBetter ? hits : served - hits, served);
    }

    public override string ToString() => ShareClass is { } c ? $"share of class {c}" : "accuracy";
}
