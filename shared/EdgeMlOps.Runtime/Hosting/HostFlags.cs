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
}
