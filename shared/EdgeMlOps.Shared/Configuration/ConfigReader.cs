using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Shared.Configuration;

/// <summary>
/// Reads typed values from configuration by key, collecting every problem instead of stopping
/// at the first, so a user with a bad config sees the whole list with the key names they typed.
/// Reflection-free, so it works in native AOT. Every key it reads (or is told of with
/// <see cref="Declare"/>) is a setting; <see cref="RejectUnknownKeys"/> turns anything else under
/// the section — a typo such as <c>Rounds:Fracton</c> — into an error with the nearest setting.
/// </summary>
public sealed class ConfigReader(IConfiguration configuration, string section)
{
    private readonly List<string> _errors = new();
    private readonly HashSet<string> _known = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _knownPrefixes = new();

    public IReadOnlyList<string> Errors => _errors;

    public string Key(string name) => string.IsNullOrEmpty(section) ? name : $"{section}:{name}";

    public string String(string name, string fallback) => Value(name) is { Length: > 0 } v ? v : fallback;

    public string? OptionalString(string name) => Value(name) is { Length: > 0 } v ? v : null;

    /// <summary>Settings read only in some configurations (say, the fleet CA with a TLS broker): known, so never "unknown".</summary>
    public void Declare(params string[] names)
    {
        foreach (var name in names) _known.Add(Key(name));
    }

    /// <summary>A subsection read by another reader (its keys are its own settings): known, so never "unknown" here.</summary>
    public void DeclareSection(string name) => _knownPrefixes.Add(Key(name) + ":");

    /// <summary>Records an error for every key under the section that no setting reads, and for a misspelt section name.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (key, value) in configuration.GetSection(section).AsEnumerable())
        {
            if (value is null || _known.Contains(key) || _knownPrefixes.Any(p => key.StartsWith(p, StringComparison.OrdinalIgnoreCase))) continue;
            _errors.Add($"{key}: not a setting" + (NearestName.Suggest(key, _known) is { } nearest ? $"; did you mean {nearest}?" : string.Empty));
        }

        foreach (var root in configuration.GetChildren())
        {
            if (!string.Equals(root.Key, section, StringComparison.OrdinalIgnoreCase) && NearestName.Distance(root.Key, section) <= 2)
            {
                _errors.Add($"{root.Key}: not a section; did you mean {section}?");
            }
        }
    }

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        Parse(name, fallback, (string s, out int v) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v), v => v >= min && v <= max, $"an integer in [{min}, {max}]");

    public long Long(string name, long fallback, long min = long.MinValue, long max = long.MaxValue) =>
        Parse(name, fallback, (string s, out long v) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v), v => v >= min && v <= max, $"an integer in [{min}, {max}]");

    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue) =>
        Parse(name, fallback, (string s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v), v => double.IsFinite(v) && v >= min && v <= max, $"a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");

    public bool Bool(string name, bool fallback) =>
        Parse(name, fallback, (string s, out bool v) => bool.TryParse(s, out v), _ => true, "true or false");

    /// <summary>Child key/value pairs of a section, e.g. <c>Agent:Tags:region=eu</c>.</summary>
    public IReadOnlyDictionary<string, string> Map(string name)
    {
        _knownPrefixes.Add(Key(name) + ":");
        return configuration.GetSection(Key(name)).GetChildren().Where(c => c.Value is not null).ToDictionary(c => c.Key, c => c.Value!, StringComparer.Ordinal);
    }

    /// <summary>Records a cross-field or semantic problem.</summary>
    public void Require(bool condition, string name, string message)
    {
        if (!condition) _errors.Add($"{Key(name)}: {message}");
    }

    /// <summary>Throws one exception listing every recorded problem, if any.</summary>
    public void ThrowIfInvalid(string what)
    {
        if (_errors.Count > 0) throw new OptionsValidationException(what, _errors);
    }

    private delegate bool TryParser<T>(string text, out T value);

    private string? Value(string name)
    {
        var key = Key(name);
        _known.Add(key);
        return configuration[key];
    }

    private T Parse<T>(string name, T fallback, TryParser<T> tryParse, Func<T, bool> valid, string expected)
    {
        var text = Value(name);
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        if (tryParse(text.Trim(), out var value) && valid(value)) return value;
        _errors.Add($"{Key(name)}: '{text}' is not {expected}");
        return fallback;
    }
}

/// <summary>Every configuration problem found at startup, listed together.</summary>
public sealed class OptionsValidationException(string what, IReadOnlyList<string> errors)
    : Exception($"Invalid {what} configuration ({errors.Count} problem{(errors.Count == 1 ? "" : "s")}):" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e)))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}
