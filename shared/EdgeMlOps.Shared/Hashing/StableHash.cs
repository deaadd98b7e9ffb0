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

    /// <summary>A 31-bit non-negative seed mixing a base seed with an id.</summary>
    public static int Seed(ulong baseSeed, string id) => (int)((Fnv1a64(id) ^ (baseSeed * 0x9E3779B97F4A7C15UL)) >> 33);
}
