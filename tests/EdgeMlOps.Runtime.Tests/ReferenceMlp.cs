using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime.Tests;

/// <summary>An independent double-precision forward pass and loss, to check the ONNX graphs against.</summary>
internal static class ReferenceMlp
{
    public static double Loss(ModelSpec spec, double[] w, float[] x, long[] y)
    {
        var layout = ParameterLayout.For(spec);
        var n = y.Length;
        double total = 0;
        for (var s = 0; s < n; s++)
        {
            var a = x.AsSpan(s * spec.InputDim, spec.InputDim).ToArray().Select(v => (double)v).ToArray();
            for (var l = 0; l < spec.LayerCount; l++)
            {
                var (inDim, outDim) = spec.LayerShape(l);
                layout.TryGet(ParameterLayout.WeightName(l), out var wt);
                layout.TryGet(ParameterLayout.BiasName(l), out var bt);
                var z = new double[outDim];
                for (var o = 0; o < outDim; o++)
                {
                    var sum = w[bt.Offset + o];
                    for (var i = 0; i < inDim; i++) sum += a[i] * w[wt.Offset + i * outDim + o];
                    z[o] = l < spec.LayerCount - 1 ? Math.Max(0, sum) : sum;
                }

                a = z;
            }

            var max = a.Max();
            var logSum = Math.Log(a.Sum(v => Math.Exp(v - max))) + max;
            total += logSum - a[y[s]];
        }

        return total / n;
    }
}
