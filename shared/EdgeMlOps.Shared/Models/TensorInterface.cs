using System.Globalization;

namespace EdgeMlOps.Shared.Models;

/// <summary>Element types a device feeds and reads by name (what ONNX Runtime's C# API moves without a custom type).</summary>
public enum TensorElement
{
    Float,
    Double,
    Int64,
    Int32,
    Bool,
    String,
}

/// <summary>One named input or output: its element type and shape, where −1 is an axis the caller chooses (a batch, a frame count).</summary>
public sealed record TensorSignature
{
    /// <summary>Most axes a declared tensor may have.</summary>
    public const int MaxRank = 8;

    public TensorSignature(string name, TensorElement type, IReadOnlyList<long> dims)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 256) throw new ArgumentException("a tensor has no name or a name over 256 characters");
        if (!Enum.IsDefined(type)) throw new ArgumentException($"tensor '{name}' has an unknown element type {(int)type}");
        if (dims.Count > MaxRank) throw new ArgumentException($"tensor '{name}' has {dims.Count} axes (at most {MaxRank})");
        if (dims.Any(d => d is < -1 or 0 or > int.MaxValue)) throw new ArgumentException($"tensor '{name}' has an axis that is neither positive nor −1 (dynamic): [{string.Join(", ", dims)}]");
        Name = name;
        Type = type;
        Dims = dims.ToArray();
    }

    public string Name { get; }

    public TensorElement Type { get; }

    public IReadOnlyList<long> Dims { get; }

    /// <summary>Values one sample of it holds: the product of <see cref="Dims"/>, which must all be fixed (a context input's are).</summary>
    public int ValueCount => checked((int)Dims.Aggregate(1L, (a, d) => checked(a * d)));

    /// <summary>
    /// For a string context input: the strings a sample row keeps as their index, in the order of the encoder the model
    /// feeds the input to (<see cref="StringCategories"/>); empty for every other tensor. Checked where it is declared
    /// (<see cref="GraphInterface.ContextInputs"/>).
    /// </summary>
    public IReadOnlyList<string> Categories { get; init; } = [];

    public string CanonicalText => FormattableString.Invariant($"{Name}:{Type.ToString().ToLowerInvariant()}[{string.Join(',', Dims.Select(d => d.ToString(CultureInfo.InvariantCulture)))}]")
        + (Categories.Count == 0 ? string.Empty : FormattableString.Invariant($"{{{Categories.Count} categories {StringCategories.Fingerprint(Categories)}}}"));

    /// <summary>How a card or a check names it: <c>'sex' string [1] (categories "1", "2")</c>; at most eight categories are listed.</summary>
    public string Description => FormattableString.Invariant($"'{Name}' {Type.ToString().ToLowerInvariant()} [{string.Join(", ", Dims)}]")
        + (Categories.Count == 0 ? string.Empty
            : $" ({Categories.Count} categor{(Categories.Count == 1 ? "y" : "ies")} {string.Join(", ", Categories.Take(8).Select(c => $"\"{c}\""))}{(Categories.Count > 8 ? ", …" : string.Empty)})");

    /// <summary>Whether <paramref name="shape"/> fits: the same rank, every fixed axis equal, every dynamic one positive.</summary>
    public bool Accepts(IReadOnlyList<long> shape) =>
        shape.Count == Dims.Count && shape.Select((d, i) => Dims[i] == -1 ? d > 0 : d == Dims[i]).All(ok => ok);

    public bool Equals(TensorSignature? other) => other is not null && CanonicalText == other.CanonicalText;

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}

/// <summary>
/// The interface of an uploaded model that is not a classifier — a regressor, a scorer, an embedding, a model with
/// several inputs of several types, a recurrent model: the tensors a caller feeds and reads by name, and the state
/// pairs (an output fed back to an input on the next call of the same session, e.g. a GRU's hidden state) the device
/// keeps between calls. Declared once, signed in the manifest; the fleet serves such a model as it is and does not
/// train it.
/// </summary>
public sealed record TensorInterface
{
    /// <summary>Most inputs, outputs or state pairs a manifest may declare.</summary>
    public const int MaxTensors = 64;

    public TensorInterface(IReadOnlyList<TensorSignature> inputs, IReadOnlyList<TensorSignature> outputs, IReadOnlyList<(string Input, string Output)> states, string sourceSha256, TensorPreprocess? preprocess = null)
    {
        var errors = new List<string>();
        if (inputs.Count == 0 || outputs.Count == 0) errors.Add("a model needs at least one input and one output");
        if (inputs.Count > MaxTensors || outputs.Count > MaxTensors || states.Count > MaxTensors) errors.Add($"at most {MaxTensors} inputs, outputs and states each");
        if (inputs.Concat(outputs).Select(t => t.Name).Distinct(StringComparer.Ordinal).Count() != inputs.Count + outputs.Count) errors.Add("a tensor name is listed twice");
        foreach (var (input, output) in states)
        {
            var fed = inputs.FirstOrDefault(t => t.Name == input);
            var made = outputs.FirstOrDefault(t => t.Name == output);
            if (fed is null || made is null) errors.Add($"state {input}>{output}: {(fed is null ? $"no input '{input}'" : $"no output '{output}'")}");
            else if (fed.Type != made.Type || !fed.Dims.SequenceEqual(made.Dims) || fed.Dims.Contains(-1)) errors.Add($"state {input}>{output}: {fed.CanonicalText} and {made.CanonicalText} must have the same type and the same fixed shape");
        }

        if (states.Select(s => s.Input).Distinct(StringComparer.Ordinal).Count() != states.Count || states.Select(s => s.Output).Distinct(StringComparer.Ordinal).Count() != states.Count) errors.Add("a state input or output is listed twice");
        if (sourceSha256.Length != 64 || !sourceSha256.All(char.IsAsciiHexDigitLower)) errors.Add("the source sha256 is not 64 lower-case hex digits");
        var accepted = preprocess is null ? inputs.ToArray() : Fronted(inputs, outputs, states, preprocess, errors);
        if (errors.Count > 0) throw new ArgumentException("Invalid tensor interface: " + string.Join("; ", errors));
        Inputs = inputs.ToArray();
        Outputs = outputs.ToArray();
        States = states.ToArray();
        SourceSha256 = sourceSha256;
        Preprocess = preprocess;
        Accepted = accepted;
        var monitored = new List<(string, int)>();
        var used = 0;
        foreach (var output in Outputs.Where(o => o.Type is TensorElement.Float or TensorElement.Double && States.All(s => s.Output != o.Name)))
        {
            var perRow = output.Dims.Skip(1).Aggregate(1L, (a, d) => d <= 0 || a * d > int.MaxValue ? -1 : a * d);
            if (perRow <= 0 || used >= MaxMonitoredValues) continue;
            var taken = (int)Math.Min(perRow, MaxMonitoredValues - used);
            monitored.Add((output.Name, taken));
            used += taken;
        }

        _outputsMonitored = monitored;
        Monitored = monitored;
    }

    /// <summary>
    /// The inputs a run takes when a preprocessing graph fronts the model: the graph's inputs, then every model input it
    /// does not make. Each preprocessing output must be a model input (not a state's), and no name may mean two things.
    /// </summary>
    private static TensorSignature[] Fronted(IReadOnlyList<TensorSignature> inputs, IReadOnlyList<TensorSignature> outputs, IReadOnlyList<(string Input, string Output)> states, TensorPreprocess preprocess, List<string> errors)
    {
        foreach (var made in preprocess.Outputs)
        {
            if (inputs.All(i => i.Name != made)) errors.Add($"the preprocessing output '{made}' is no model input (inputs: {string.Join(", ", inputs.Select(i => i.Name))})");
            else if (states.Any(s => s.Input == made)) errors.Add($"the preprocessing output '{made}' is a state input, which the device feeds back");
        }

        var rest = inputs.Where(i => !preprocess.Outputs.Contains(i.Name)).ToArray();
        foreach (var fed in preprocess.Inputs.Where(p => rest.Any(i => i.Name == p.Name) || outputs.Any(o => o.Name == p.Name)))
            errors.Add($"the preprocessing input '{fed.Name}' is also a model {(outputs.Any(o => o.Name == fed.Name) ? "output" : "input it does not make")}");
        return [.. preprocess.Inputs, .. rest];
    }

    private readonly IReadOnlyList<(string Output, int Taken)> _outputsMonitored;
    private readonly TensorEmbedding? _embedding;

    /// <summary>
    /// A float value of the graph — usually an intermediate one such as a pooled feature vector, or an output — whose
    /// values per row monitoring sketches instead of a large raw input (an image, audio): the input drift of such a
    /// model. Devices fetch it beside the served outputs; callers never see it. Null: the outputs alone are watched.
    /// </summary>
    public TensorEmbedding? Embedding
    {
        get => _embedding;
        init
        {
            if (value is not null && Inputs.Any(i => i.Name == value.Name)) throw new ArgumentException($"Invalid tensor interface: the embedding '{value.Name}' is an input; declare a value the model computes");
            if (value is not null && States.Any(s => s.Output == value.Name)) throw new ArgumentException($"Invalid tensor interface: the embedding '{value.Name}' is a state output");
            _embedding = value;
            Monitored = value is null ? _outputsMonitored : [.. _outputsMonitored.Where(m => m.Output != value.Name), (value.Name, Math.Min(value.Width, TensorEmbedding.MaxMonitoredValues))];
        }
    }

    private readonly IReadOnlyList<InputScaling> _scalings = [];

    /// <summary>Device-side normalization of float inputs before the model (at most one per input); see <see cref="InputScaling"/>.</summary>
    public IReadOnlyList<InputScaling> Scalings
    {
        get => _scalings;
        init => _scalings = OnePerCallerInput(value, s => s.Input, "scaling", "scaled", (s, input) => s.CheckFits(input));
    }

    private readonly IReadOnlyList<InputWindow> _windows = [];

    /// <summary>Inputs the device assembles per session from streamed chunks (at most one window per input); see <see cref="InputWindow"/>.</summary>
    public IReadOnlyList<InputWindow> Windows
    {
        get => _windows;
        init => _windows = OnePerCallerInput(value, w => w.Input, "window", "windowed", (w, input) => w.Length(input));
    }

    /// <summary>Device-side preprocessing declarations checked: each for an input a caller sends (not a state), that fits it, one per input.</summary>
    private T[] OnePerCallerInput<T>(IReadOnlyList<T> declared, Func<T, string> inputOf, string noun, string verb, Action<T, TensorSignature> fits)
    {
        foreach (var item in declared)
        {
            var name = inputOf(item);
            var input = Accepted.FirstOrDefault(i => i.Name == name) ?? throw new ArgumentException($"Invalid tensor interface: the {noun} names no input '{name}' a caller feeds (inputs: {string.Join(", ", Accepted.Select(i => i.Name))})");
            if (States.Any(s => s.Input == name)) throw new ArgumentException($"Invalid tensor interface: '{name}' is a state input, which the device feeds back as the model made it; it takes no {noun}");
            fits(item, input);
        }

        if (declared.Select(inputOf).Distinct(StringComparer.Ordinal).Count() != declared.Count) throw new ArgumentException($"Invalid tensor interface: an input is {verb} twice");
        return [.. declared];
    }

    /// <summary>Most output values per row that monitoring sketches.</summary>
    public const int MaxMonitoredValues = 64;

    /// <summary>
    /// What drift monitoring watches for such a model, in order: per row (the first axis; a rank-0 output is one row), the
    /// first <c>Taken</c> values of each float or double output that is not a state and has fixed axes after the first —
    /// a score, a regression value, the head of an embedding — at most <see cref="MaxMonitoredValues"/> in all; then the
    /// declared <see cref="Embedding"/>'s first values (at most <see cref="TensorEmbedding.MaxMonitoredValues"/>).
    /// </summary>
    public IReadOnlyList<(string Output, int Taken)> Monitored { get; private init; }

    /// <summary>Values per monitored row (0: nothing to monitor).</summary>
    public int MonitoredWidth => Monitored.Sum(m => m.Taken);

    /// <summary>The model graph's inputs.</summary>
    public IReadOnlyList<TensorSignature> Inputs { get; }

    /// <summary>
    /// The inputs a run takes, in the caller's terms: the model's inputs, or — with a <see cref="Preprocess"/> graph — its
    /// inputs and the model inputs it does not make. Scalings and windows apply to these, before any preprocessing.
    /// </summary>
    public IReadOnlyList<TensorSignature> Accepted { get; }

    /// <summary>The device-side preprocessing graph that fronts the model, or null.</summary>
    public TensorPreprocess? Preprocess { get; }

    public IReadOnlyList<TensorSignature> Outputs { get; }

    /// <summary>(input, output) pairs: the output of one call is the input of the session's next call; zeros at first.</summary>
    public IReadOnlyList<(string Input, string Output)> States { get; }

    /// <summary>The uploaded file's sha256: every version is served as exactly these bytes.</summary>
    public string SourceSha256 { get; }

    /// <summary>Inputs a caller sends (the state inputs are the device's).</summary>
    public IEnumerable<TensorSignature> CallerInputs => Accepted.Where(i => States.All(s => s.Input != i.Name));

    /// <summary>Every field in one line; equal texts mean equal interfaces.</summary>
    public string CanonicalText => string.Join('|',
        string.Join(';', Inputs.Select(t => t.CanonicalText)), string.Join(';', Outputs.Select(t => t.CanonicalText)),
        string.Join(';', States.Select(s => s.Input + ">" + s.Output)), SourceSha256) + (Embedding is { } e ? "|embedding:" + e.CanonicalText : string.Empty)
        + (Scalings.Count > 0 ? "|scale:" + string.Join(';', Scalings.Select(x => x.CanonicalText)) : string.Empty)
        + (Windows.Count > 0 ? "|window:" + string.Join(';', Windows.Select(x => x.CanonicalText)) : string.Empty)
        + (Preprocess is { } p ? "|preprocess:" + p.CanonicalText : string.Empty);

    public bool Equals(TensorInterface? other) => other is not null && CanonicalText == other.CanonicalText;

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}

/// <summary>A declared embedding: the graph value monitoring sketches and its values per row (measured by a run at upload).</summary>
public sealed record TensorEmbedding
{
    /// <summary>Most values per row an embedding may have.</summary>
    public const int MaxWidth = 1 << 20;

    /// <summary>Most of its values per row that are sketched (the first ones).</summary>
    public const int MaxMonitoredValues = 512;

    public TensorEmbedding(string name, int width)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 256) throw new ArgumentException("the embedding has no name or a name over 256 characters");
        if (width is < 1 or > MaxWidth) throw new ArgumentException($"the embedding '{name}' has {width} values per row (1 to {MaxWidth})");
        Name = name;
        Width = width;
    }

    public string Name { get; }

    public int Width { get; }

    public string CanonicalText => FormattableString.Invariant($"{Name}:{Width}");
}
