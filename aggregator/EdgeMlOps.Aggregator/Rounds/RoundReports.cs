namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Small helpers the round coordinators share to report.</summary>
internal static class RoundReports
{
    /// <summary>A round that did not start (too few devices, or the strategy stopped).</summary>
    public static RoundReport NotStarted(long roundNumber, string roundId, RoundStatus status, ulong baseVersion, int eligible, int target, TimeSpan elapsed, string? reason) =>
        new(roundNumber, roundId, status, baseVersion, null, eligible, 0, target, 0, 0, 0, new Dictionary<string, long>(), null, null, double.NaN, 0, elapsed)
        {
            StopReason = reason,
        };

    /// <summary>Rejections by reason between two snapshots (only the reasons that grew).</summary>
    public static Dictionary<string, long> Diff(IReadOnlyDictionary<string, long> after, IReadOnlyDictionary<string, long> before) =>
        after.Select(kv => (kv.Key, Value: kv.Value - before.GetValueOrDefault(kv.Key)))
            .Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>Time left until <paramref name="deadline"/>, at least a millisecond.</summary>
    public static TimeSpan Remaining(DateTimeOffset deadline, TimeProvider time)
    {
        var left = deadline - time.GetUtcNow();
        return left > TimeSpan.FromMilliseconds(1) ? left : TimeSpan.FromMilliseconds(1);
    }
}
