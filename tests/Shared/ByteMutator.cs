namespace EdgeMlOps.Tests;

/// <summary>
/// One to three edits of an encoded body, as a broken link or a hostile sender makes them: a byte changed, random bytes
/// inserted, a span deleted, the rest cut off, or a NaN, an infinity or a float near the top of its range written in
/// (most edited messages no longer parse; some parse as something else).
/// </summary>
internal static class ByteMutator
{
    public static byte[] Mutate(byte[] body, Random random)
    {
        var bytes = new List<byte>(body);
        for (var edits = random.Next(1, 4); edits > 0 && bytes.Count > 0; edits--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.InsertRange(at, Enumerable.Range(0, random.Next(1, 9)).Select(_ => (byte)random.Next(256))); break;
                case 2: bytes.RemoveRange(at, Math.Min(random.Next(1, 9), bytes.Count - at)); break;
                case 3: bytes.RemoveRange(at, bytes.Count - at); break;
                default: bytes.InsertRange(at & ~3, BitConverter.GetBytes(random.Next(3) switch { 0 => float.NaN, 1 => float.PositiveInfinity, _ => 3e38f })); break;
            }
        }

        return [.. bytes];
    }
}
