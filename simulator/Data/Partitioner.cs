using System.Globalization;

namespace EdgeMlOps.Simulator.Data;

/// <summary>
/// How the device pool is split across devices: <c>iid</c> (shuffled, equal shares),
/// <c>shards:K</c> (sort by label, cut into devices×K shards, K per device — McMahan et al. 2017's
/// pathological non-IID), or <c>dirichlet:α</c> (per-class proportions drawn from Dir(α)).
/// </summary>
public sealed record Partition(string Kind, double Parameter)
{
    public static bool TryParse(string text, out Partition partition, out string error)
    {
        partition = new Partition("iid", 0);
        error = string.Empty;
        var parts = text.Split(':', 2);
        switch (parts[0])
        {
            case "iid" when parts.Length == 1:
                return true;
            case "shards" when parts.Length == 2 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k > 0:
                partition = new Partition("shards", k);
                return true;
            case "dirichlet" when parts.Length == 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var a) && a > 0 && double.IsFinite(a):
                partition = new Partition("dirichlet", a);
                return true;
            default:
                error = $"'{text}' is not iid, shards:K (K > 0) or dirichlet:ALPHA (ALPHA > 0)";
                return false;
        }
    }

    /// <summary>Indices into <paramref name="data"/> for each of <paramref name="devices"/> devices.</summary>
    public int[][] Split(Dataset data, int devices, int seed)
    {
        var random = new Random(seed);
        return Kind switch
        {
            "iid" => Iid(data.Count, devices, random),
            "shards" => Shards(data, devices, (int)Parameter, random),
            _ => Dirichlet(data, devices, Parameter, random),
        };
    }

    public override string ToString() => Kind == "iid" ? "iid" : $"{Kind}:{Parameter.ToString(CultureInfo.InvariantCulture)}";

    private static int[][] Iid(int count, int devices, Random random)
    {
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        // Device d gets positions d, d + devices, d + 2·devices... of the shuffled order: one pass, O(count)
        // (filtering the whole order once per device took hours at 100,000 devices).
        return Enumerable.Range(0, devices)
            .Select(d => Enumerable.Range(0, d < count ? (count - d + devices - 1) / devices : 0).Select(k => order[d + k * devices]).ToArray())
            .ToArray();
    }

    private static int[][] Shards(Dataset data, int devices, int perDevice, Random random)
    {
        var byLabel = Enumerable.Range(0, data.Count).OrderBy(i => data.Labels[i]).ThenBy(i => i).ToArray();
        var shardCount = devices * perDevice;
        var shardSize = data.Count / shardCount;
        if (shardSize == 0) throw new ArgumentException($"{data.Count} samples cannot make {shardCount} shards.");
        var shards = Enumerable.Range(0, shardCount).ToArray();
        random.Shuffle(shards);
        return Enumerable.Range(0, devices)
            .Select(d => shards.Skip(d * perDevice).Take(perDevice).SelectMany(s => byLabel.Skip(s * shardSize).Take(shardSize)).ToArray())
            .ToArray();
    }

    private static int[][] Dirichlet(Dataset data, int devices, double alpha, Random random)
    {
        var result = Enumerable.Range(0, devices).Select(_ => new List<int>()).ToArray();
        for (var c = 0; c < data.Classes; c++)
        {
            var members = Enumerable.Range(0, data.Count).Where(i => data.Labels[i] == c).ToArray();
            random.Shuffle(members);
            var weights = Enumerable.Range(0, devices).Select(_ => Gamma(alpha, random)).ToArray();
            var total = weights.Sum();
            var start = 0;
            for (var d = 0; d < devices; d++)
            {
                var take = d == devices - 1 ? members.Length - start : (int)Math.Round(members.Length * weights[d] / total);
                take = Math.Clamp(take, 0, members.Length - start);
                result[d].AddRange(members.Skip(start).Take(take));
                start += take;
            }
        }

        return result.Select(r => r.ToArray()).ToArray();
    }

    // Marsaglia–Tsang; for alpha < 1 uses the boost Gamma(a) = Gamma(a + 1) * U^(1/a).
    private static double Gamma(double alpha, Random random)
    {
        if (alpha < 1) return Gamma(alpha + 1, random) * Math.Pow(random.NextDouble(), 1 / alpha);
        var d = alpha - 1.0 / 3;
        var c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = SyntheticDataset.Gaussian(random);
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            var u = random.NextDouble();
            if (Math.Log(u) < 0.5 * x * x + d - d * v + d * Math.Log(v)) return d * v;
        }
    }
}
