namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// The raw 12-bit counts a sensor would report for calibrated intensities, as <c>export_frames_frontends.py</c> defines
/// them: each value of column <c>j</c> (of 8) times 200 + 10·j, plus 90 + 5·j. PyTorch's calibration front end undoes
/// this exactly, so tests feed these counts and expect what PyTorch computes on the calibrated values.
/// </summary>
internal static class SensorCounts
{
    /// <summary>The count of <paramref name="value"/> read in column <paramref name="column"/> (taken modulo 8).</summary>
    public static float Of(float value, int column) => (value * (200 + (10 * (column % 8)))) + 90 + (5 * (column % 8));
}
