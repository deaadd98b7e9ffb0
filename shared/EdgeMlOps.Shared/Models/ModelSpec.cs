namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Architecture of a dense classifier: <see cref="InputDim"/> features, ReLU hidden layers of
/// the given sizes, <see cref="Classes"/> outputs. No hidden layers is multinomial logistic regression.
/// </summary>
public sealed record ModelSpec
{
    public ModelSpec(int inputDim, IReadOnlyList<int> hidden, int classes)
    {
        var errors = new List<string>();
        if (inputDim <= 0) errors.Add($"inputDim must be positive, was {inputDim}");
        if (classes < 2) errors.Add($"classes must be at least 2, was {classes}");
        for (var i = 0; i < hidden.Count; i++)
        {
            if (hidden[i] <= 0) errors.Add($"hidden[{i}] must be positive, was {hidden[i]}");
        }

        if (errors.Count > 0) throw new ArgumentException("Invalid model spec: " + string.Join("; ", errors));
        InputDim = inputDim;
        Hidden = hidden.ToArray();
        Classes = classes;
    }

    public int InputDim { get; }

    public IReadOnlyList<int> Hidden { get; }

    public int Classes { get; }

    public int LayerCount => Hidden.Count + 1;

    /// <summary>(in, out) width of dense layer <paramref name="layer"/>.</summary>
    public (int In, int Out) LayerShape(int layer)
    {
        var inDim = layer == 0 ? InputDim : Hidden[layer - 1];
        var outDim = layer == Hidden.Count ? Classes : Hidden[layer];
        return (inDim, outDim);
    }

    public static ModelSpec LogisticRegression(int inputDim, int classes) => new(inputDim, [], classes);

    public static ModelSpec Mlp(int inputDim, IReadOnlyList<int> hidden, int classes) => new(inputDim, hidden, classes);

    /// <summary>Stable text form, e.g. <c>mlp-784-128-10</c> or <c>logreg-784-10</c>.</summary>
    public override string ToString() =>
        (Hidden.Count == 0 ? "logreg-" : "mlp-") + string.Join('-', new[] { InputDim }.Concat(Hidden).Append(Classes));

    public bool Equals(ModelSpec? other) =>
        other is not null && InputDim == other.InputDim && Classes == other.Classes && Hidden.SequenceEqual(other.Hidden);

    public override int GetHashCode() => ToString().GetHashCode(StringComparison.Ordinal);
}
