using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace EdgeMlOps.Shared.Privacy;

/// <summary>
/// Uniform doubles in [0, 1) for differential-privacy noise. By default they come from the operating
/// system's CSPRNG: noise drawn from a seeded <see cref="Random"/> could be subtracted again by anyone who
/// searches the seed space (2^31 seeds for <see cref="Random(int)"/>). A seeded source exists only for
/// simulations that must reproduce a run, and says so in its name.
/// </summary>
public abstract class NoiseSource
{
    public abstract string Name { get; }

    public abstract double NextDouble();

    /// <summary>The CSPRNG unless <paramref name="seed"/> is given.</summary>
    public static NoiseSource Create(ulong? seed) => seed is { } s ? new Seeded(s) : new Secure();

    private sealed class Secure : NoiseSource
    {
        private readonly ulong[] _buffer = new ulong[512];
        private int _next = 512;

        public override string Name => "csprng";

        public override double NextDouble()
        {
            if (_next == _buffer.Length)
            {
                RandomNumberGenerator.Fill(MemoryMarshal.AsBytes(_buffer.AsSpan()));
                _next = 0;
            }

            // The top 53 bits make a double in [0, 1) with every representable step equally likely.
            return (_buffer[_next++] >> 11) * (1.0 / (1UL << 53));
        }
    }

    private sealed class Seeded(ulong seed) : NoiseSource
    {
        private readonly Random _random = new(unchecked((int)(seed ^ (seed >> 32))));

        public override string Name => "seeded (simulation only, not private)";

        public override double NextDouble() => _random.NextDouble();
    }
}
