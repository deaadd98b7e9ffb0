using System.Globalization;

namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// What each outcome of a classifier costs, written <c>TRUE&gt;PREDICTED=COST,…</c> (cells not listed cost nothing):
/// the business cost of a missed fraud or a needless escalation. Read by the monitoring KPI <c>cost:…</c> and by A/B
/// tests that compare versions on mean cost per labelled prediction.
/// </summary>
public sealed class CostMatrix
{
    private readonly double[] _costs;

    private CostMatrix(int classes, double[] costs)
    {
        Classes = classes;
        _costs = costs;
    }

    public int Classes { get; }

    /// <summary>The cost of answering <paramref name="predicted"/> when the truth is <paramref name="truth"/>.</summary>
    public double this[int truth, int predicted] => _costs[truth * Classes + predicted];

    /// <summary>Costs in row-major order (true class × predicted class), as confusion counts are laid out.</summary>
    public ReadOnlySpan<double> Cells => _costs;

    /// <summary>Parses the cells after <c>cost:</c>; a malformed cell, a class at or above <paramref name="classes"/> or a non-finite cost is a <see cref="FormatException"/>.</summary>
    public static CostMatrix Parse(string cells, int classes)
    {
        int Class(string s) => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var c) && c < classes ? c : throw new FormatException($"'{s}' is not a class index below {classes}");
        var costs = new double[classes * classes];
        foreach (var cell in cells.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = cell.IndexOf('=', StringComparison.Ordinal);
            var arrow = cell.IndexOf('>', StringComparison.Ordinal);
            if (eq < 0 || arrow < 0 || arrow > eq || !double.TryParse(cell[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var cost) || !double.IsFinite(cost))
            {
                throw new FormatException($"'{cell}' is not TRUE>PREDICTED=COST");
            }

            costs[Class(cell[..arrow]) * classes + Class(cell[(arrow + 1)..eq])] = cost;
        }

        return new CostMatrix(classes, costs);
    }
}
