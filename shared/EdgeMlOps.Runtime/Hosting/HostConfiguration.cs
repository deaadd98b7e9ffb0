using System.Text.Json;
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
    /// <summary>The layered configuration; throws <see cref="HostConfigurationException"/> naming a settings file that is not JSON.</summary>
    public static IConfiguration Build(string[] args, params string[] flags)
    {
        var builder = new ConfigurationBuilder();
        foreach (var file in new[] { Path.Combine(AppContext.BaseDirectory, "appsettings.json"), Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json") }.Distinct())
        {
            if (!File.Exists(file)) continue;
            CheckJson(file);
            builder.AddJsonFile(file, optional: true);
        }

        return builder
            .AddEnvironmentVariables("EDGEMLOPS_")
            .AddCommandLine(args.Where(a => !flags.Contains(a)).ToArray())
            .Build();
    }

    /// <summary>Parses <paramref name="file"/> as the JSON configuration provider does (comments and trailing commas allowed).</summary>
    private static void CheckJson(string file)
    {
        try
        {
            using var _ = JsonDocument.Parse(File.ReadAllText(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new HostConfigurationException($"{file}: not valid JSON: {ex.Message}");
        }
    }
}

/// <summary>A settings file the host cannot read as configuration: the host prints it and exits with code 2.</summary>
public sealed class HostConfigurationException(string message) : Exception(message);
