using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>The rows drift monitoring sketches from one run of a model served by tensor names (see <see cref="TensorInterface.Monitored"/>).</summary>
public static class MonitoredOutputs
{
    /// <summary>Most rows of one call that are sketched (a large batch is sampled from its start).</summary>
    public const int MaxRowsPerCall = 64;

    /// <summary>One float vector of <see cref="TensorInterface.MonitoredWidth"/> values per row (the outputs', then the <paramref name="embedding"/>'s); none when they do not have the declared per-row shape.</summary>
    public static IReadOnlyList<float[]> Rows(TensorInterface tensors, IReadOnlyList<NamedTensor> outputs, NamedTensor? embedding = null)
    {
        if (tensors.MonitoredWidth == 0) return [];
        var parts = new List<(NamedTensor Tensor, int PerRow, int Taken)>();
        var rows = long.MaxValue;
        foreach (var (name, taken) in tensors.Monitored)
        {
            if ((embedding?.Name == name ? embedding : outputs.FirstOrDefault(o => o.Name == name)) is not { } tensor) return [];
            var count = tensor.Dims.Length == 0 ? 1 : tensor.Dims[0];
            var perRow = count <= 0 ? 0 : tensor.Data.Length / count;
            if (perRow < taken || count * perRow != tensor.Data.Length) return [];
            parts.Add((tensor, (int)perRow, taken));
            rows = Math.Min(rows, count);
        }

        var result = new List<float[]>();
        for (var r = 0; r < Math.Min(rows, MaxRowsPerCall); r++)
        {
            var row = new float[tensors.MonitoredWidth];
            var at = 0;
            foreach (var (tensor, perRow, taken) in parts)
            {
                for (var i = 0; i < taken; i++)
                {
                    row[at++] = tensor.Data switch
                    {
                        float[] f => f[r * perRow + i],
                        double[] d => (float)d[r * perRow + i],
                        _ => float.NaN,
                    };
                }
            }

            if (Array.TrueForAll(row, float.IsFinite)) result.Add(row);
        }

        return result;
    }
}
