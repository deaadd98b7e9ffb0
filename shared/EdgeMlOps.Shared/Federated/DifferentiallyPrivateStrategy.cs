using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Privacy;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Federated;

/// <summary>
/// Wraps a mean-aggregating strategy in user-level DP-FedAvg (McMahan et al. 2018): clip every
/// update to norm C, count updates equally, divide their sum by the round's target (a fixed
/// denominator, so one device changes the result by at most C / target), add Gaussian noise of
/// z·C / target per coordinate, then let the inner strategy's server optimizer apply it.
/// Optionally adapts C to a quantile of the norms (Andrew et al. 2021) with a noised count.
/// An RDP accountant (sampled Gaussian, q = selected / eligible) reports ε after every round
/// and refuses to start a round that would exceed the budget.
/// </summary>
public sealed class DifferentiallyPrivateStrategy : StrategyDecorator
{
    private readonly DpOptions _options;
    private readonly NoiseSource _noise;
    private int _underClip;
    private int _seen;

    public DifferentiallyPrivateStrategy(FederatedStrategy inner, DpOptions options)
        : base(inner)
    {
        var errors = options.Errors().ToList();
        if (errors.Count > 0) throw new ArgumentException(string.Join("; ", errors), nameof(options));
        _options = options;
        ClipNorm = options.ClipNorm;
        _noise = NoiseSource.Create(options.NoiseSeed);
    }

    public double ClipNorm { get; private set; }

    public RdpAccountant Accountant { get; } = new();

    /// <summary>ε spent so far at the configured δ.</summary>
    public double Epsilon => Accountant.Steps == 0 ? 0 : Accountant.Epsilon(_options.Delta);

    public override string Describe() =>
        FormattableString.Invariant($"{Inner.Describe()}; DP-FedAvg z={_options.NoiseMultiplier}, C={ClipNorm:G4}{(_options.AdaptiveClipping ? " (adaptive)" : string.Empty)}, delta={_options.Delta}, noise {_noise.Name}");

    public override IUpdateCombiner CreateCombiner(RoundContext context, ParameterLayout layout)
    {
        _underClip = 0;
        _seen = 0;
        return new MeanCombiner(layout.TotalLength, fixedDenominator: Math.Max(1, context.Target));
    }

    public override double? MaxUpdateNorm => ClipNorm * _options.RejectNormAboveClips;

    public override Contribution Weigh(string deviceId, ModelUpdate update, double norm, long staleness)
    {
        _seen++;
        if (norm <= ClipNorm) _underClip++;
        var scale = norm > ClipNorm ? ClipNorm / norm : 1.0;
        return new Contribution(deviceId, WeightOf(update.SampleCount), scale, (long)update.SampleCount);
    }

    /// <summary>DP-FedAvg: every device weighs one, whatever its samples (its sensitivity is bounded by the clip alone).</summary>
    public override double WeightOf(ulong sampleCount) => 1.0;

    public override float[] Combine(RoundContext context, IUpdateCombiner combiner, StrategyNotes notes)
    {
        var delta = combiner.Combine();
        var target = Math.Max(1, context.Target);
        var sigmaDelta = UpdateNoiseMultiplier(target);
        var stddev = sigmaDelta * ClipNorm / target;
        if (stddev > 0)
        {
            for (var i = 0; i < delta.Length; i++) delta[i] += (float)(stddev * NextGaussian());
        }

        var q = context.EligibleCount > 0 ? Math.Min(1.0, (double)context.SelectCount / context.EligibleCount) : 1.0;
        Accountant.Compose(q, _options.NoiseMultiplier);
        notes["dp.clip_norm"] = ClipNorm;
        notes["dp.noise_stddev"] = stddev;
        notes["dp.sampling_rate"] = q;
        notes["dp.epsilon"] = Accountant.Epsilon(_options.Delta);
        notes["dp.delta"] = _options.Delta;
        notes["dp.share_under_clip"] = _seen > 0 ? (double)_underClip / _seen : double.NaN;

        if (_options.AdaptiveClipping && _seen > 0)
        {
            // Noised share of updates under the clip, then a geometric step towards the quantile.
            var countNoise = CountStddev(target) * NextGaussian();
            var share = (_underClip + countNoise) / target;
            ClipNorm *= Math.Exp(-_options.ClipLearningRate * (share - _options.TargetQuantile));
        }

        return delta;
    }

    public override string? StopReason(RoundContext next)
    {
        if (_options.EpsilonBudget <= 0) return Inner.StopReason(next);
        var q = next.EligibleCount > 0 ? Math.Min(1.0, (double)next.SelectCount / next.EligibleCount) : 1.0;
        var after = Accountant.EpsilonAfter(q, _options.NoiseMultiplier, _options.Delta);
        return after > _options.EpsilonBudget
            ? FormattableString.Invariant($"privacy budget: another round would spend epsilon {after:F3} > {_options.EpsilonBudget} at delta {_options.Delta} (now {Epsilon:F3})")
            : Inner.StopReason(next);
    }

    /// <summary>The inner state, then one vector [C, rounds accounted, RDP per order].</summary>
    public override IReadOnlyList<float[]> SaveState() =>
        [.. Inner.SaveState(), [(float)ClipNorm, Accountant.Steps, .. Accountant.Rdp.Select(r => (float)r)]];

    public override bool RestoreState(IReadOnlyList<float[]> state, int length)
    {
        if (state.Count == 0) return Inner.RestoreState(state, length);
        var own = state[^1];
        if (own.Length != 2 + Accountant.Orders.Count) return false;
        ClipNorm = own[0];
        Accountant.Restore(own.Skip(2).Select(r => (double)r).ToArray(), (long)own[1]);
        return Inner.RestoreState(state.Take(state.Count - 1).ToArray(), length);
    }

    /// <summary>Noise multiplier left for the update when part of the budget goes to the clipped count (Andrew et al., Theorem 1).</summary>
    private double UpdateNoiseMultiplier(int target)
    {
        var z = _options.NoiseMultiplier;
        if (!_options.AdaptiveClipping || z == 0) return z;
        var sigmaB = CountStddev(target);
        var rest = Math.Pow(z, -2) - Math.Pow(2 * sigmaB, -2);
        if (rest <= 0) throw new InvalidOperationException($"adaptive clipping needs clipped-count noise above z/2 = {z / 2} (have {sigmaB})");
        return Math.Pow(rest, -0.5);
    }

    private double CountStddev(int target) => _options.ClippedCountStddev > 0 ? _options.ClippedCountStddev : target / 20.0;

    private double NextGaussian()
    {
        // Box–Muller in double.
        var u1 = 1.0 - _noise.NextDouble();
        var u2 = _noise.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
