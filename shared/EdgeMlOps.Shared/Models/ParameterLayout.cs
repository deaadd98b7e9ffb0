namespace EdgeMlOps.Shared.Models;

/// <summary>One named parameter tensor inside the flat parameter vector.</summary>
public sealed record ParameterTensor(string Name, long[] Dims, int Offset, int Length);

/// <summary>
/// The order, names and shapes of a model's parameters, and where each lives in one flat
/// float vector. Aggregation works on the flat vector; the wire carries named tensors.
/// </summary>
public sealed class ParameterLayout
{
    private readonly Dictionary<string, ParameterTensor> _byName;

    public ParameterLayout(IReadOnlyList<(string Name, long[] Dims)> tensors)
    {
        var list = new List<ParameterTensor>(tensors.Count);
        var offset = 0;
        foreach (var (name, dims) in tensors)
        {
            var length = checked((int)dims.Aggregate(1L, (a, d) => a * d));
            list.Add(new ParameterTensor(name, dims, offset, length));
            offset = checked(offset + length);
        }

        Tensors = list;
        TotalLength = offset;
        _byName = list.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public IReadOnlyList<ParameterTensor> Tensors { get; }

    public int TotalLength { get; }

    public bool TryGet(string name, out ParameterTensor tensor) => _byName.TryGetValue(name, out tensor!);

    public static string WeightName(int layer) => $"layer{layer}.weight";

    public static string BiasName(int layer) => $"layer{layer}.bias";

    /// <summary>
    /// Layout of a model's trained parameters: an uploaded graph's declared tensors in order, or for a dense
    /// classifier per layer a weight [in, out] then a bias [out].
    /// </summary>
    public static ParameterLayout For(ModelSpec spec)
    {
        if (spec.Graph is { } graph) return new ParameterLayout(graph.Trained);
        var tensors = new List<(string, long[])>();
        for (var l = 0; l < spec.LayerCount; l++)
        {
            var (inDim, outDim) = spec.LayerShape(l);
            tensors.Add((WeightName(l), [inDim, outDim]));
            tensors.Add((BiasName(l), [outDim]));
        }

        return new ParameterLayout(tensors);
    }
}
