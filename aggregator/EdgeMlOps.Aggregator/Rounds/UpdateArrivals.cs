namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>
/// When a round's accepted updates arrived: how bunched they are — the ingest peak that pace steering's check-in window
/// (<see cref="RoundOptions.CheckInWindow"/>) flattens. Thread-safe: the inbox records, the coordinator reads at close.
/// </summary>
public sealed class UpdateArrivals
{
    private readonly Lock _gate = new();
    private readonly List<DateTimeOffset> _times = [];

    public void Record(DateTimeOffset at)
    {
        lock (_gate) _times.Add(at);
    }

    /// <summary>The most updates that arrived within any one second.</summary>
    public int PeakPerSecond()
    {
        DateTimeOffset[] times;
        lock (_gate) times = [.. _times];
        Array.Sort(times);
        var peak = 0;
        for (int first = 0, last = 0; last < times.Length; last++)
        {
            while (times[last] - times[first] >= TimeSpan.FromSeconds(1)) first++;
            peak = Math.Max(peak, last - first + 1);
        }

        return peak;
    }

    /// <summary>Seconds from the first update to the last.</summary>
    public double SpreadSeconds()
    {
        lock (_gate) return _times.Count < 2 ? 0 : (_times.Max() - _times.Min()).TotalSeconds;
    }
}
