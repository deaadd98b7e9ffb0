using System.Globalization;

namespace EdgeMlOps.Aggregator.Explanations;

/// <summary>
/// The explainability gate: a candidate that reaches its accuracy by relying on different inputs than the live version
/// (its top inputs by permutation importance share less than the bound with the live version's) is not validated
/// automatically; a person looks first. Null means the gate passes (or is off).
/// </summary>
public static class ExplanationGate
{
    public static string? Check(VersionExplanation candidate, VersionExplanation live, ExplanationOptions options)
    {
        if (options.MinTopInputOverlap <= 0) return null;
        var k = Math.Min(options.TopInputs, candidate.Importance.Count);
        var mine = candidate.Top(k).Select(i => i.Input).ToHashSet();
        var theirs = live.Top(k).Select(i => i.Input).ToArray();
        var overlap = (double)theirs.Count(mine.Contains) / Math.Max(1, k);
        if (overlap >= options.MinTopInputOverlap) return null;
        return string.Create(CultureInfo.InvariantCulture,
            $"review required: the top {k} inputs by permutation importance changed (overlap {overlap:P0} with v{live.Version}, below {options.MinTopInputOverlap:P0}): now {string.Join(", ", mine.Order())}, before {string.Join(", ", theirs.Order())}");
    }
}
