namespace EdgeMlOps.Cli;

/// <summary>A row of eight block heights, low to high, for a series in a table cell.</summary>
internal static class Sparkline
{
    private const string Blocks = "▁▂▃▄▅▆▇█";

    public static string Of(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return "-";
        var (low, high) = (values.Min(), values.Max());
        return string.Concat(values.Select(v => Blocks[high - low > 1e-12 ? (int)Math.Round((v - low) / (high - low) * 7) : 0]));
    }
}
