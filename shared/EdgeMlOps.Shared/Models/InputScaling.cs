using System.Globalization;
using System.Numerics;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// Preprocessing that belongs to the device, declared with the interface and signed in the manifest: a float input
/// is normalized as x' = (x − Mean[c]) / Std[c] before the model sees it, c being the position along <see cref="Axis"/>
/// (a colour channel, a sensor axis), or one pair for every value when <see cref="Axis"/> is −1. Callers send raw
/// values — pixels in [0, 1], readings in their units — as the training pipeline did before normalizing them
/// (torchvision's <c>Normalize</c>, scikit-learn's <c>StandardScaler</c>); the uploaded file itself is not changed.
/// </summary>
public sealed record InputScaling
{
    /// <summary>Most (mean, std) pairs one scaling may declare.</summary>
    public const int MaxPairs = 4096;

    public InputScaling(string input, int axis, IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        if (string.IsNullOrEmpty(input)) throw new ArgumentException("a scaling names no input");
        if (mean.Count == 0 || mean.Count != std.Count || mean.Count > MaxPairs) throw new ArgumentException($"the scaling of '{input}' needs as many means as deviations, 1 to {MaxPairs} (has {mean.Count} and {std.Count})");
        if (axis < -1 || axis >= TensorSignature.MaxRank) throw new ArgumentException($"the scaling of '{input}' is along axis {axis} (−1: every value, or 0 to {TensorSignature.MaxRank - 1})");
        if (axis == -1 && mean.Count != 1) throw new ArgumentException($"the scaling of '{input}' over every value (axis −1) takes one mean and one deviation");
        if (mean.Any(m => !float.IsFinite(m)) || std.Any(s => !float.IsFinite(s) || s <= 0)) throw new ArgumentException($"the scaling of '{input}' needs finite means and positive finite deviations");
        Input = input;
        Axis = axis;
        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    public string Input { get; }

    /// <summary>The axis whose positions each have their own pair; −1: one pair for every value.</summary>
    public int Axis { get; }

    public IReadOnlyList<float> Mean { get; }

    public IReadOnlyList<float> Std { get; }

    public string CanonicalText => FormattableString.Invariant($"{Input}@{Axis}:{string.Join(',', Mean.Select(Text))}/{string.Join(',', Std.Select(Text))}");

    /// <summary>Refuses a scaling that does not fit <paramref name="input"/>: a float or double input whose axis is fixed at as many positions as pairs.</summary>
    public void CheckFits(TensorSignature input)
    {
        if (input.Type is not (TensorElement.Float or TensorElement.Double)) throw new ArgumentException($"the scaling of '{Input}' needs a float or double input; it is {input.Type.ToString().ToLowerInvariant()}");
        if (Axis == -1) return;
        if (Axis >= input.Dims.Count || input.Dims[Axis] != Mean.Count)
            throw new ArgumentException($"the scaling of '{Input}' has {Mean.Count} pairs along axis {Axis}; the input is {input.CanonicalText} (that axis must be fixed at {Mean.Count})");
    }

    /// <summary>The scaled copy of row-major <paramref name="values"/> of shape <paramref name="dims"/> (which <see cref="CheckFits"/> accepted).</summary>
    public T[] Apply<T>(T[] values, IReadOnlyList<long> dims)
        where T : IFloatingPointIeee754<T>
    {
        var inner = Axis == -1 ? 1 : dims.Skip(Axis + 1).Aggregate(1L, (a, d) => a * d);
        var mean = Mean.Select(T.CreateChecked).ToArray();
        var std = Std.Select(T.CreateChecked).ToArray();
        var scaled = new T[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var c = Axis == -1 ? 0 : (int)(i / inner % mean.Length);
            scaled[i] = (values[i] - mean[c]) / std[c];
        }

        return scaled;
    }

    private static string Text(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    public bool Equals(InputScaling? other) => other is not null && CanonicalText == other.CanonicalText;

    public override int GetHashCode() => CanonicalText.GetHashCode(StringComparison.Ordinal);
}
