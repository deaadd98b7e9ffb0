using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Shared.Configuration;

/// <summary>
/// Reads typed values from configuration by key, collecting every problem instead of stopping
/// at the first, so a user with a bad config sees the whole list with the key names they typed.
/// Reflection-free, so it works in native AOT.
/// </summary>
public sealed class ConfigReader(IConfiguration configuration, string section)
{
    private readonly List<string> _errors = new();

    public IReadOnlyList<string> Errors => _errors;

    public string Key(string name) => string.IsNullOrEmpty(section) ? name : $"{section}:{name}";

    public string String(string name, string fallback) => configuration[Key(name)] is { Length: > 0 } v ? v : fallback;

    public string? OptionalString(string name) => configuration[Key(name)] is { Length: > 0 } v ? v : null;

    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        Parse(name, fallback, (string s, out int v) => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v), v => v >= min && v <= max, $"an integer in [{min}, {max}]");

    public long Long(string name, long fallback, long min = long.MinValue, long max = long.MaxValue) =>
        Parse(name, fallback, (string s, out long v) => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out v), v => v >= min && v <= max, $"an integer in [{min}, {max}]");

    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue) =>
        Parse(name, fallback, (string s, out double v) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v), v => double.IsFinite(v) && v >= min && v <= max, $"a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");

    public bool Bool(string name, bool fallback) =>
        Parse(name, fallback, (string s, out bool v) => bool.TryParse(s, out v), _ => true, "true or false");

    /// <summary>Child key/value pairs of a section, e.g. <c>Agent:Tags:region=eu</c>.</summary>
    public IReadOnlyDictionary<string, string> Map(string name) =>
        configuration.GetSection(Key(name)).GetChildren().Where(c => c.Value is not null).ToDictionary(c => c.Key, c => c.Value!, StringComparer.Ordinal);

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

    private T Parse<T>(string name, T fallback, TryParser<T> tryParse, Func<T, bool> valid, string expected)
    {
        var text = configuration[Key(name)];
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
