namespace EdgeMlOps.Shared.Models;

/// <summary>A model's parameters as one flat vector plus the layout that names its parts.</summary>
public sealed class ModelWeights
{
    public ModelWeights(ModelSpec spec, float[] values)
    {
        Layout = ParameterLayout.For(spec);
        if (values.Length != Layout.TotalLength)
        {
            throw new ArgumentException($"Expected {Layout.TotalLength} parameters for {spec}, got {values.Length}.", nameof(values));
        }

        Spec = spec;
        Values = values;
    }

    public ModelSpec Spec { get; }

    public ParameterLayout Layout { get; }

    /// <summary>All parameters, in layout order.</summary>
    public float[] Values { get; }

    public Span<float> Slice(ParameterTensor tensor) => Values.AsSpan(tensor.Offset, tensor.Length);

    public ModelWeights Clone() => new(Spec, (float[])Values.Clone());

    /// <summary>
    /// He-uniform weights (suited to ReLU) and zero biases, from a seeded generator so every
    /// run with the same seed starts from the same model.
    /// </summary>
    public static ModelWeights Initialize(ModelSpec spec, int seed)
    {
        if (spec.Graph is not null) throw new InvalidOperationException($"{spec} is an uploaded graph: its initial weights are the ones in its file.");
        var layout = ParameterLayout.For(spec);
        var values = new float[layout.TotalLength];
        var random = new Random(seed);
        foreach (var tensor in layout.Tensors)
        {
            if (tensor.Dims.Length != 2) continue;
            var fanIn = tensor.Dims[0];
            var limit = Math.Sqrt(6.0 / fanIn);
            var span = values.AsSpan(tensor.Offset, tensor.Length);
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = (float)((random.NextDouble() * 2 - 1) * limit);
            }
        }

        return new ModelWeights(spec, values);
    }
}
