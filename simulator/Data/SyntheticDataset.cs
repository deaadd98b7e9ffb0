namespace EdgeMlOps.Simulator.Data;

/// <summary>
/// Gaussian class clusters in <c>dim</c> dimensions: needs nothing downloaded, learnable but
/// not trivially (clusters overlap at the default spread).
/// </summary>
public static class SyntheticDataset
{
    public static Dataset Generate(int count, int dim, int classes, int seed, double spread = 1.6)
    {
        var random = new Random(seed);
        var centers = new double[classes * dim];
        for (var i = 0; i < centers.Length; i++) centers[i] = random.NextDouble() * 4 - 2;
        var features = new float[count * dim];
        var labels = new long[count];
        for (var n = 0; n < count; n++)
        {
            var c = random.Next(classes);
            labels[n] = c;
            for (var d = 0; d < dim; d++)
            {
                features[n * dim + d] = (float)(centers[c * dim + d] + Gaussian(random) * spread);
            }
        }

        return new Dataset("synthetic", features, labels, dim, classes);
    }

    internal static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
