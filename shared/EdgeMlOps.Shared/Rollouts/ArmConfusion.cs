namespace EdgeMlOps.Shared.Rollouts;

/// <summary>
/// The layout of an A/B arm's confusion counts (<c>ArmCounts.confusion</c>): true class × predicted class, row-major
/// over the first <see cref="Width"/> classes, so a cost KPI (<c>cost:T&gt;P=COST,…</c>) can be judged per arm from
/// counts alone. Outcomes of a class at or above the width are labelled but not placed in a cell (they cost nothing).
/// </summary>
public static class ArmConfusion
{
    /// <summary>Classes a cost KPI can name; 32 × 32 cells keep a report under 1,100 bytes even when every cell is used.</summary>
    public const int Width = 32;

    public const int Cells = Width * Width;

    /// <summary>The cell of one outcome, or -1 when either class is outside the layout.</summary>
    public static int Cell(long truth, long predicted) =>
        truth is >= 0 and < Width && predicted is >= 0 and < Width ? (int)(truth * Width + predicted) : -1;
}
