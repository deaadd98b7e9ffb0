using System.Reflection;

namespace EdgeMlOps.Runtime.Hosting;

/// <summary>
/// <c>--help</c> and <c>--version</c> for the executables: answered before any configuration is read, so
/// asking for help never binds a port, creates keys or complains about settings.
/// </summary>
public static class HostFlags
{
    /// <summary>The product version (informational, with the source revision when the build knew it).</summary>
    public static string Version(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>Writes the usage or version and returns 0 when <paramref name="args"/> asks for one; otherwise null.</summary>
    public static int? Answer(string[] args, string name, string usage, TextWriter output)
    {
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            output.WriteLine(usage.TrimEnd());
            return 0;
        }

        if (args.Contains("--version"))
        {
            output.WriteLine($"{name} {Version(Assembly.GetEntryAssembly() ?? typeof(HostFlags).Assembly)}");
            return 0;
        }

        return null;
    }

    /// <summary>
    /// <c>--healthcheck</c> (a container's HEALTHCHECK; the images have no curl): GET <paramref name="url"/> on the
    /// running process, 0 when it answers 2xx within five seconds, 1 otherwise, with one line saying what happened.
    /// </summary>
    public static async Task<int> CheckHealthAsync(Uri url, HttpMessageHandler handler, TextWriter output)
    {
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url).ConfigureAwait(false);
            output.WriteLine($"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            output.WriteLine($"{url}: unhealthy: {ex.Message}");
            return 1;
        }
    }

    /// <summary>A listener address as a client reaches it from the same machine (0.0.0.0 and [::] become loopback).</summary>
    public static Uri Local(Uri listener, string path)
    {
        var host = listener.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : listener.Host;
        return new UriBuilder(listener.Scheme, host, listener.Port, path).Uri;
    }
}
