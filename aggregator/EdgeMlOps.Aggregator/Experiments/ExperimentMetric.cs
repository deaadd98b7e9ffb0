using System.Globalization;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Rollouts;

namespace EdgeMlOps.Aggregator.Experiments;

/// <summary>What an A/B test compares.</summary>
public enum MetricKind
{
    /// <summary>Ground-truth accuracy: correct of labelled.</summary>
    Accuracy,

    /// <summary>A share KPI: requests answered with class C, of requests served.</summary>
    Share,

    /// <summary>A cost KPI: mean cost per labelled prediction, from each arm's confusion counts and a cost per cell.</summary>
    Cost,

    /// <summary>A regressor's or multi-label classifier's mean squared error per labelled prediction (the Brier score for labels); lower is better.</summary>
    SquaredError,
}

/// <summary>
/// What an A/B test or a bandit compares, as a sample per arm oriented so that higher is better: ground-truth accuracy
/// (correct of labelled), a share KPI (requests answered with class C, of requests served — or not C when lower is
/// better), or a cost KPI (mean cost per labelled prediction over the arm's confusion counts, negated when lower is
/// better). The first two are proportions, read by the fixed-horizon, sequential and Thompson-sampling machinery;
/// a cost is a mean, read by the fixed-horizon and sequential tests with its variance estimated from the counts.
/// </summary>
public sealed class ExperimentMetric
{
    public static readonly ExperimentMetric Accuracy = new("accuracy", MetricKind.Accuracy, null, null);

    /// <summary>The mean squared error of a regressor's values or a multi-label classifier's probabilities against the targets.</summary>
    public static readonly ExperimentMetric MeanSquaredError = new("mse", MetricKind.SquaredError, null, null);

    private ExperimentMetric(string name, MetricKind kind, int? shareClass, CostMatrix? costs)
    {
        Name = name;
        Kind = kind;
        ShareClass = shareClass;
        Costs = costs;
    }

    public string Name { get; }

    public MetricKind Kind { get; }

    public int? ShareClass { get; }

    public CostMatrix? Costs { get; }

    /// <summary>A mean rather than a proportion: sized by a standard deviation, not judged by the bandit.</summary>
    public bool IsMean => Kind is MetricKind.Cost or MetricKind.SquaredError;

    /// <summary><c>accuracy</c>, <c>share:C</c> or <c>cost:T&gt;P=COST,…</c>; anything else is an <see cref="ArgumentException"/>.</summary>
    public static ExperimentMetric Parse(string? text)
    {
        if (string.IsNullOrEmpty(text) || text == "accuracy") return Accuracy;
        if (text == "mse") return MeanSquaredError;
        if (text.StartsWith("share:", StringComparison.Ordinal) && int.TryParse(text.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < 256)
        {
            return new ExperimentMetric(text, MetricKind.Share, c, null);
        }

        if (text.StartsWith("cost:", StringComparison.Ordinal))
        {
            try
            {
                return new ExperimentMetric(text, MetricKind.Cost, null, CostMatrix.Parse(text[5..], ArmConfusion.Width));
            }
            catch (FormatException e)
            {
                throw new ArgumentException($"experiment: metric '{text}': {e.Message} (classes below {ArmConfusion.Width})", e);
            }
        }

        throw new ArgumentException($"experiment: metric '{text}' is not 'accuracy', 'share:C' (C a class below 256), 'cost:TRUE>PREDICTED=COST,...' or 'mse'");
    }

    /// <summary>One arm's sample, oriented so that a higher mean is better.</summary>
    public ArmSample Sample(ArmCounts? arm, bool higherIsBetter)
    {
        if (arm is null) return default;
        switch (Kind)
        {
            case MetricKind.Share:
                var hits = ShareClass < arm.Predicted.Count ? (long)arm.Predicted[ShareClass.Value] : 0;
                var served = (long)arm.Served;
                return ArmSample.Proportion(higherIsBetter ? hits : served - hits, served);
            case MetricKind.Cost:
                var costs = Costs!.Cells;
                double sum = 0, squares = 0;
                for (var i = 0; i < arm.Confusion.Count && i < costs.Length; i++)
                {
                    sum += arm.Confusion[i] * costs[i];
                    squares += arm.Confusion[i] * costs[i] * costs[i];
                }

                return new ArmSample((long)arm.Labelled, higherIsBetter ? sum : -sum, squares); // labelled outcomes in no cell cost nothing
            case MetricKind.SquaredError:
                return new ArmSample((long)arm.Labelled, higherIsBetter ? arm.SquaredErrorSum : -arm.SquaredErrorSum, arm.SquaredErrorSquares);
            default:
                return ArmSample.Proportion((long)arm.Correct, (long)arm.Labelled);
        }
    }

    /// <summary>The metric as its user reads it, from an oriented mean (a share or a cost, not its complement or negation).</summary>
    public double? Display(double? oriented, bool higherIsBetter) => oriented is not { } v || higherIsBetter ? oriented : Kind switch
    {
        MetricKind.Share => 1 - v,
        MetricKind.Cost or MetricKind.SquaredError => -v,
        _ => v,
    };

    /// <summary>What one observation is: a label (accuracy, cost) or a request served (share).</summary>
    public string Unit => Kind == MetricKind.Share ? "served" : "labelled";

    /// <summary>Observations counted per arm, as a noun: "labels" or "requests".</summary>
    public string Observations => Kind == MetricKind.Share ? "requests" : "labels";

    public override string ToString() => Kind switch
    {
        MetricKind.Share => $"share of class {ShareClass}",
        MetricKind.Cost => "mean cost",
        MetricKind.SquaredError => "mean squared error",
        _ => "accuracy",
    };
}
