namespace EdgeMlOps.Tests;

/// <summary>
/// The one polling helper of every test project (linked in by tests/Directory.Build.props): waits for a condition fed
/// by asynchronous delivery, with a deadline instead of a fixed sleep, and says what it waited for when it gives up.
/// </summary>
internal static class Eventually
{
    public static async Task Until(Func<bool> condition, string what = "condition", double seconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"Timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }

    /// <summary>The same for a condition that asks over the network (a host's HTTP API), polled every 100 ms.</summary>
    public static async Task Until(Func<Task<bool>> condition, string what, double seconds = 30)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"Timed out waiting for: {what}");
            await Task.Delay(100);
        }
    }
}
