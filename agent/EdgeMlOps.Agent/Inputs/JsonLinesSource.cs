using System.Runtime.CompilerServices;
using System.Text;

namespace EdgeMlOps.Agent.Inputs;

/// <summary>
/// Inputs as JSON lines (a file, or stdin for a pipe from another process), one
/// <c>{"features": [...], "label": n?}</c> per line — for a regressor <c>"target": [...]</c> instead of the label; a
/// model with context inputs also takes <c>{"inputs": {name: [...]}}</c> (<paramref name="layout"/>: the served model's,
/// read per line). Bad lines are counted and skipped, never fatal.
/// </summary>
public sealed class JsonLinesSource(TextReader reader, string name = "jsonl", Func<SampleLayout?>? layout = null) : IInputSource
{
    private long _badLines;

    public string Name => name;

    public long BadLines => Interlocked.Read(ref _badLines);

    public string? LastError { get; private set; }

    public async IAsyncEnumerable<InputRecord> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            if (SampleJson.TryParse(Encoding.UTF8.GetBytes(line), out var features, out var label, out var target, out _, out var error, layout?.Invoke()) && features is not null
                && (label is null || target is null))
            {
                yield return new InputRecord(features, label) { Target = target };
            }
            else
            {
                Interlocked.Increment(ref _badLines);
                LastError = $"line {lineNumber}: {error ?? (features is null ? "no 'features'" : "a label and a target: one or the other")}";
            }
        }
    }
}
