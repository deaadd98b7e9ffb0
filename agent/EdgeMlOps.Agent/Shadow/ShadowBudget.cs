using System.Diagnostics;

namespace EdgeMlOps.Agent.Shadow;

/// <summary>
/// Keeps the candidate's scoring time under a share of wall-clock time since the shadow began: a request is scored
/// only while the time spent so far is within the share (plus one slack interval, so the first requests can start).
/// Real time on purpose: the budget is about the device's CPU, whatever clock the agent's logic runs on.
/// </summary>
internal sealed class ShadowBudget(double maxShare)
{
    private static readonly TimeSpan Slack = TimeSpan.FromMilliseconds(50);
    private readonly long _started = Stopwatch.GetTimestamp();
    private long _busyTicks;

    /// <summary>True if one more request may be scored now.</summary>
    public bool Allows()
    {
        if (maxShare >= 1) return true;
        var allowed = Stopwatch.GetElapsedTime(_started) * maxShare + Slack;
        return TimeSpan.FromTicks(Interlocked.Read(ref _busyTicks)) < allowed;
    }

    public void Spent(TimeSpan elapsed) => Interlocked.Add(ref _busyTicks, elapsed.Ticks);
}
