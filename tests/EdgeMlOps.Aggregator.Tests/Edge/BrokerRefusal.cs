namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>A hostile client's attempt the broker answers by closing the connection.</summary>
internal static class BrokerRefusal
{
    /// <summary>Runs <paramref name="action"/>, which may fail because the broker closed the connection before acknowledging.</summary>
    public static async Task IgnoreClosedAsync(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The broker may close the connection before acknowledging.
        }
    }
}
