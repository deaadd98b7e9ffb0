using EdgeMlOps.Agent.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>
/// Starts an agent's local API on a port the kernel picks as it binds (port 0). A port looked up free and bound
/// later can be handed to another test in between, which then fails with "address already in use".
/// </summary>
internal static class LocalApiOnAnyPort
{
    public static LocalApi Start(DeviceAgent agent, LocalApiOptions? options = null)
    {
        var api = new LocalApi(agent, (options ?? new LocalApiOptions()) with { Address = "http://127.0.0.1:0/" }, NullLogger.Instance);
        api.Start();
        return api;
    }

    /// <summary>The address it answers at.</summary>
    public static Uri BaseAddress(this LocalApi api) => new($"http://{api.EndPoint}/");
}
