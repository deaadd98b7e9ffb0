namespace EdgeMlOps.Shared.Hashing;

/// <summary>
/// A hash that is the same in every process and on every platform (unlike string.GetHashCode),
/// for seeds and for deciding membership from ids.
/// </summary>
public static class StableHash
{
    /// <summary>64-bit FNV-1a over the UTF-16 code units of <paramref name="text"/>.</summary>
    public static ulong Fnv1a64(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ (byte)c) * 1099511628211UL;
            hash = (hash ^ (byte)(c >> 8)) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>
    /// A stable position in [0, 1) for a pair of ids (a device in a rollout, a device in a round): FNV-1a finished
    /// with a 64-bit avalanche (SplitMix64), uniform and independent across pairs.
    /// </summary>
    public static double UnitInterval(string first, string second)
    {
        var z = Fnv1a64(first + "\n" + second);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>A 31-bit non-negative seed mixing a base seed with an id.</summary>
    public static int Seed(ulong baseSeed, string id) => (int)((Fnv1a64(id) ^ (baseSeed * 0x9E3779B97F4A7C15UL)) >> 33);
}
