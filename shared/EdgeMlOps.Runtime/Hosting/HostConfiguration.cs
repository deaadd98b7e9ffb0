using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Runtime.Hosting;

/// <summary>
/// The configuration layering both executables use: <c>appsettings.json</c> next to the binary, then in the
/// working directory, then <c>EDGEMLOPS_</c>-prefixed environment variables (<c>EDGEMLOPS_Agent__DeviceId</c>),
/// then the command line (<c>--Agent:DeviceId=x</c>). Plain flags such as <c>--check-config</c> are not
/// key/value pairs and are left out of the command-line layer.
/// </summary>
public static class HostConfiguration
{
    public static IConfiguration Build(string[] args, params string[] flags) =>
        new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
            .AddEnvironmentVariables("EDGEMLOPS_")
            .AddCommandLine(args.Where(a => !flags.Contains(a)).ToArray())
            .Build();
}
