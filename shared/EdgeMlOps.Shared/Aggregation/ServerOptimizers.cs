using System.Numerics.Tensors;

namespace EdgeMlOps.Shared.Aggregation;

/// <summary>
/// Applies a round's combined delta (a pseudo-gradient pointing downhill) to the global weights
/// (Reddi et al. 2021, "Adaptive Federated Optimization"). Stateful optimizers keep one or two
/// vectors the size of the model; <see cref="SaveState"/>/<see cref="RestoreState"/> carry them
/// across an aggregator restart.
/// </summary>
public abstract class ServerOptimizer
{
    public abstract string Name { get; }

    /// <summary>weights ← weights + step(delta).</summary>
    public abstract void Step(Span<float> weights, ReadOnlySpan<float> delta);

    /// <summary>Optimizer state as float vectors (empty when stateless).</summary>
    public virtual IReadOnlyList<float[]> SaveState() => [];

    /// <summary>Restores state written by <see cref="SaveState"/> for a model of <paramref name="length"/> parameters; false (and fresh state) if it does not fit.</summary>
    public virtual bool RestoreState(IReadOnlyList<float[]> state, int length) => state.Count == 0;
}

/// <summary>Plain FedAvg: weights += η · delta (η = 1 is McMahan et al.).</summary>
public sealed class SgdServerOptimizer(double learningRate = 1.0) : ServerOptimizer
{
    public override string Name => FormattableString.Invariant($"sgd(lr={learningRate})");

    public override void Step(Span<float> weights, ReadOnlySpan<float> delta) =>
        TensorPrimitives.MultiplyAdd(delta, (float)learningRate, weights, weights);
}

/// <summary>FedAvgM (Hsu et al. 2019): server momentum v ← β v + delta; weights += η v.</summary>
public sealed class MomentumServerOptimizer(double learningRate = 1.0, double momentum = 0.9) : ServerOptimizer
{
    private float[]? _velocity;

    public override string Name => FormattableString.Invariant($"fedavgm(lr={learningRate}, momentum={momentum})");

    public override void Step(Span<float> weights, ReadOnlySpan<float> delta)
    {
        _velocity ??= new float[delta.Length];
        TensorPrimitives.MultiplyAdd(_velocity, (float)momentum, delta, _velocity);
        TensorPrimitives.MultiplyAdd(_velocity, (float)learningRate, weights, weights);
    }

    public override IReadOnlyList<float[]> SaveState() => _velocity is null ? [] : [_velocity];

    public override bool RestoreState(IReadOnlyList<float[]> state, int length)
    {
        _velocity = state.Count == 1 && state[0].Length == length ? state[0] : null;
        return _velocity is not null || state.Count == 0;
    }
}

/// <summary>Which second-moment rule an <see cref="AdaptiveServerOptimizer"/> uses.</summary>
public enum AdaptiveRule
{
    /// <summary>v ← v + Δ² (FedAdagrad).</summary>
    Adagrad,
    /// <summary>v ← β₂ v + (1 − β₂) Δ² (FedAdam).</summary>
    Adam,
    /// <summary>v ← v − (1 − β₂) Δ² sign(v − Δ²) (FedYogi).</summary>
    Yogi,
}

/// <summary>
/// FedAdagrad, FedAdam and FedYogi (Reddi et al. 2021, Algorithm 2): m ← β₁ m + (1 − β₁) Δ,
/// v by the rule, weights += η m / (√v + τ). τ bounds the step where v is tiny.
/// </summary>
public sealed class AdaptiveServerOptimizer : ServerOptimizer
{
    private readonly AdaptiveRule _rule;
    private readonly float _eta;
    private readonly float _beta1;
    private readonly float _beta2;
    private readonly float _tau;
    private float[]? _m;
    private float[]? _v;

    public AdaptiveServerOptimizer(AdaptiveRule rule, double eta, double beta1 = 0.9, double beta2 = 0.99, double tau = 1e-3)
    {
        if (!(eta > 0) || beta1 is < 0 or >= 1 || beta2 is <= 0 or >= 1 || !(tau > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(eta), $"need eta > 0, 0 ≤ beta1 < 1, 0 < beta2 < 1, tau > 0 (got {eta}, {beta1}, {beta2}, {tau})");
        }

        _rule = rule;
        _eta = (float)eta;
        _beta1 = (float)beta1;
        _beta2 = (float)beta2;
        _tau = (float)tau;
    }

    public override string Name => FormattableString.Invariant($"fed{_rule.ToString().ToLowerInvariant()}(eta={_eta}, beta1={_beta1}, beta2={_beta2}, tau={_tau})");

    public override void Step(Span<float> weights, ReadOnlySpan<float> delta)
    {
        var n = delta.Length;
        if (_m is null || _v is null)
        {
            _m = new float[n];
            _v = new float[n];

            // Reddi et al. initialise v to τ².
            Array.Fill(_v, _tau * _tau);
        }

        var m = _m;
        var v = _v;
        for (var i = 0; i < n; i++)
        {
            var d = delta[i];
            var d2 = d * d;
            m[i] = _beta1 * m[i] + (1 - _beta1) * d;
            v[i] = _rule switch
            {
                AdaptiveRule.Adagrad => v[i] + d2,
                AdaptiveRule.Adam => _beta2 * v[i] + (1 - _beta2) * d2,
                _ => v[i] - (1 - _beta2) * d2 * MathF.Sign(v[i] - d2),
            };
            weights[i] += _eta * m[i] / (MathF.Sqrt(v[i]) + _tau);
        }
    }

    public override IReadOnlyList<float[]> SaveState() => _m is null || _v is null ? [] : [_m, _v];

    public override bool RestoreState(IReadOnlyList<float[]> state, int length)
    {
        var fits = state.Count == 2 && state[0].Length == length && state[1].Length == length;
        (_m, _v) = fits ? (state[0], state[1]) : (null, null);
        return fits || state.Count == 0;
    }
}
