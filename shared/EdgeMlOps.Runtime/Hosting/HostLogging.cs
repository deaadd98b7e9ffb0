using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace EdgeMlOps.Runtime.Hosting;

/// <summary>
/// The hosts' console logging from configuration: <c>Logging:LogLevel:Default</c> and per-category levels
/// (<c>Logging:LogLevel:EdgeMlOps.Aggregator.Http=Debug</c>), UTC timestamps on every line, one JSON object per event
/// with <c>Logging:Format=json</c> (journald, Loki). ASP.NET Core's per-request lines start at Warning unless a level
/// is given for them. Read by hand, without the configuration binder, so it works in the native-AOT agent.
/// </summary>
public static class HostLogging
{
    public const string TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";

    /// <summary>The levels configured under <c>Logging:LogLevel</c>; a value that is not a level is reported in <paramref name="errors"/> and ignored.</summary>
    public static IReadOnlyDictionary<string, LogLevel> Levels(IConfiguration configuration, ICollection<string> errors)
    {
        var levels = new Dictionary<string, LogLevel>(StringComparer.OrdinalIgnoreCase) { ["Microsoft.AspNetCore"] = LogLevel.Warning };
        foreach (var entry in configuration.GetSection("Logging:LogLevel").GetChildren())
        {
            if (entry.Value is null) continue;
            if (Enum.TryParse<LogLevel>(entry.Value.Trim(), ignoreCase: true, out var level) && Enum.IsDefined(level)) levels[entry.Key] = level;
            else errors.Add($"Logging:LogLevel:{entry.Key}: '{entry.Value}' is not one of {string.Join(", ", Enum.GetNames<LogLevel>())}");
        }

        return levels;
    }

    /// <summary>A console logger factory with <paramref name="levels"/> (from <see cref="Levels"/>, checked once by the host).</summary>
    public static ILoggerFactory Create(IConfiguration configuration, IReadOnlyDictionary<string, LogLevel> levels)
    {
        var json = string.Equals(configuration["Logging:Format"], "json", StringComparison.OrdinalIgnoreCase);
        return LoggerFactory.Create(b =>
        {
            if (json)
            {
                b.AddJsonConsole(c =>
                {
                    c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    c.UseUtcTimestamp = true;
                });
            }
            else
            {
                b.AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = TimestampFormat;
                    c.UseUtcTimestamp = true;
                    c.ColorBehavior = LoggerColorBehavior.Disabled;
                });
            }

            b.SetMinimumLevel(levels.TryGetValue("Default", out var fallback) ? fallback : LogLevel.Information);
            foreach (var (category, level) in levels)
            {
                if (!string.Equals(category, "Default", StringComparison.OrdinalIgnoreCase)) b.AddFilter(category, level);
            }
        });
    }
}
