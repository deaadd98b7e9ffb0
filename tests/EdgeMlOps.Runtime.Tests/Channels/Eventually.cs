namespace EdgeMlOps.Runtime.Tests.Channels;

/// <summary>Waits for a condition fed by asynchronous delivery, with a deadline instead of a fixed sleep.</summary>
internal static class Eventually
{
    public static async Task Until(Func<bool> condition, string what, double seconds = 10)
    {
        var until = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"Timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }
}
