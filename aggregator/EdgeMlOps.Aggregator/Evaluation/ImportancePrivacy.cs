using System.Security.Cryptography;
using EdgeMlOps.Shared.Privacy;

namespace EdgeMlOps.Aggregator.Evaluation;

/// <summary>
/// Differential privacy for the explanation counts devices send — permutation importance and partial dependence
/// (device-level: a device is the unit protected). Partial dependence: a device's rows and, per grid point, its summed
/// probabilities (an L1 norm of its rows) are clipped alike, so the sensitivity is rows per device × √(curves × (grid + 1)).
/// Importance: Each device's counts are scaled so it weighs at most <see cref="RowsPerDevice"/> rows; every summed count
/// (rows, correct, correct with each input shuffled) then gets Gaussian noise of standard deviation
/// <see cref="NoiseMultiplier"/> × the L2 sensitivity (rows per device × √(inputs + 2)) — the Gaussian mechanism, its ε
/// from the Rényi accountant the DP strategy uses. More inputs asked means more noise per count: ask for the few inputs
/// a question is about. Off when the multiplier is 0.
/// </summary>
public sealed record ImportancePrivacy
{
    public const double DefaultDelta = 1e-5;
    public const ulong DefaultRowsPerDevice = 1000;

    public double NoiseMultiplier { get; init; }

    public ulong RowsPerDevice { get; init; } = DefaultRowsPerDevice;

    public double Delta { get; init; } = DefaultDelta;

    /// <summary>Seeds the noise for tests; null draws it from the operating system's CSPRNG (what a deployment must do).</summary>
    public ulong? Seed { get; init; }

    public bool Enabled => NoiseMultiplier > 0;

    /// <summary>Standard deviation of the noise on every summed count when <paramref name="inputs"/> inputs are asked.</summary>
    public double NoiseStdDev(int inputs) => NoiseMultiplier * RowsPerDevice * Math.Sqrt(inputs + 2);

    /// <summary>Standard deviation of the noise on every partial-dependence sum when <paramref name="inputs"/> curves of <paramref name="grid"/> points are asked.</summary>
    public double DependenceNoiseStdDev(int inputs, int grid) => NoiseMultiplier * RowsPerDevice * Math.Sqrt(inputs * (grid + 1.0));

    /// <summary>
    /// ε at <see cref="Delta"/> of <paramref name="releases"/> releases from the same devices' rows (importance and partial
    /// dependence in one evaluation are two; every device's counts present: sampling rate 1), composed by the accountant.
    /// </summary>
    public double Epsilon(int releases = 1) => new RdpAccountant().EpsilonAfter(1.0, NoiseMultiplier, Delta, releases);

    /// <summary>A device's counts scaled down to <see cref="RowsPerDevice"/> rows (ratios kept).</summary>
    public double Clip(double rows) => rows > RowsPerDevice ? RowsPerDevice / rows : 1.0;

    /// <summary>Draws the noise: seeded for tests, else from the CSPRNG.</summary>
    public Func<double> Gaussian()
    {
        var seeded = Seed is { } s ? new Random(unchecked((int)s ^ (int)(s >> 32))) : null;
        double Uniform() => seeded?.NextDouble() ?? (RandomNumberGenerator.GetInt32(int.MaxValue) + 0.5) / int.MaxValue;
        return () => Math.Sqrt(-2 * Math.Log(1 - Uniform() + double.Epsilon)) * Math.Cos(2 * Math.PI * Uniform());
    }
}
