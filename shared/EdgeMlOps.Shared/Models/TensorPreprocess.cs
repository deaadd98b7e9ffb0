namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Preprocessing that belongs to the device, declared as an ONNX graph of its own (a mel filterbank over raw audio, an
/// image resize): the caller feeds the graph's <see cref="Inputs"/>, the device runs it and feeds each of its
/// <see cref="Outputs"/> to the model input of the same name. Its file is a second artifact, pinned by
/// <see cref="Sha256"/> and <see cref="Size"/> in the signed interface, fetched and checked like the model's, and run as
/// it is — the model's own graph is never rewritten to include it.
/// </summary>
public sealed record TensorPreprocess
{
    /// <summary>Largest preprocessing file a manifest may name (a filterbank or a resize is kilobytes).</summary>
    public const long MaxBytes = 64L << 20;

    public TensorPreprocess(string sha256, long size, IReadOnlyList<TensorSignature> inputs, IReadOnlyList<string> outputs)
    {
        var errors = new List<string>();
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower)) errors.Add("its sha256 is not 64 lower-case hex digits");
        if (size is < 1 or > MaxBytes) errors.Add($"its size {size} is not 1 to {MaxBytes} bytes");
        if (inputs.Count is 0 or > TensorInterface.MaxTensors || outputs.Count is 0 or > TensorInterface.MaxTensors) errors.Add($"it needs 1 to {TensorInterface.MaxTensors} inputs and outputs");
        if (inputs.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count() != inputs.Count) errors.Add("an input is listed twice");
        if (outputs.Any(string.IsNullOrEmpty) || outputs.Distinct(StringComparer.Ordinal).Count() != outputs.Count) errors.Add("an output is empty or listed twice");
        if (errors.Count > 0) throw new ArgumentException("Invalid preprocessing graph: " + string.Join("; ", errors));
        Sha256 = sha256;
        Size = size;
        Inputs = inputs.ToArray();
        Outputs = outputs.ToArray();
    }

    /// <summary>The preprocessing file's sha256: devices run exactly these bytes.</summary>
    public string Sha256 { get; }

    public long Size { get; }

    /// <summary>What the caller feeds the preprocessing graph.</summary>
    public IReadOnlyList<TensorSignature> Inputs { get; }

    /// <summary>The graph's outputs the device feeds to the model, each to the model input of the same name.</summary>
    public IReadOnlyList<string> Outputs { get; }

    public string CanonicalText => FormattableString.Invariant($"{Sha256}:{Size}:{string.Join(';', Inputs.Select(i => i.CanonicalText))}>{string.Join(',', Outputs)}");
}
