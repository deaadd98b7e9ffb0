namespace EdgeMlOps.Simulator.Tests;

/// <summary>Waits for a condition fed by asynchronous MQTT delivery, with a deadline instead of a fixed sleep.</summary>
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
}
