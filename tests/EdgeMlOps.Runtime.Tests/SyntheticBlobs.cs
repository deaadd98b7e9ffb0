namespace EdgeMlOps.Runtime.Tests;

/// <summary>Well-separated Gaussian blobs: a problem any working classifier solves almost perfectly.</summary>
internal static class SyntheticBlobs
{
    public static (float[] X, long[] Y) Make(int n, int dim, int classes, int seed, double spread = 0.5)
    {
        var random = new Random(seed);
        var centers = new double[classes, dim];
        for (var c = 0; c < classes; c++)
        for (var d = 0; d < dim; d++)
            centers[c, d] = random.NextDouble() * 8 - 4;

        var x = new float[n * dim];
        var y = new long[n];
        for (var i = 0; i < n; i++)
        {
            var c = random.Next(classes);
            y[i] = c;
            for (var d = 0; d < dim; d++) x[i * dim + d] = (float)(centers[c, d] + Gaussian(random) * spread);
        }

        return (x, y);
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
