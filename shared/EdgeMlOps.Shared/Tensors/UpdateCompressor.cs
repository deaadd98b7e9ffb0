using System.Numerics.Tensors;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Tensor = EdgeMlOps.Shared.Protocol.V1.Tensor;

namespace EdgeMlOps.Shared.Tensors;

/// <summary>How a device encodes its update, as the round's train config asks.</summary>
public readonly record struct CompressionSettings(TensorEncoding Encoding, float TopKFraction = 0.01f, bool ErrorFeedback = true)
{
    public static CompressionSettings From(TrainConfig config) =>
        new(config.UpdateEncoding == TensorEncoding.Unspecified ? TensorEncoding.Float32Le : config.UpdateEncoding, config.TopKFraction, config.ErrorFeedback);

    /// <summary>Parses <c>fp32</c>, <c>fp16</c>, <c>int8</c> or <c>topk:0.01</c> (optionally <c>,no-ef</c>).</summary>
    public static CompressionSettings Parse(string text)
    {
        var parts = text.Trim().ToLowerInvariant().Split(',');
        var errorFeedback = !parts.Skip(1).Contains("no-ef");
        var head = parts[0];
        if (head is "fp32" or "none" or "") return new(TensorEncoding.Float32Le);
        if (head == "fp16") return new(TensorEncoding.Float16Le);
        if (head is "int8" or "uint8" or "q8") return new(TensorEncoding.Uint8Stochastic, ErrorFeedback: errorFeedback);
        if (head.StartsWith("topk:", StringComparison.Ordinal)
            && float.TryParse(head[5..], System.Globalization.CultureInfo.InvariantCulture, out var fraction) && fraction > 0 && fraction <= 1)
        {
            return new(TensorEncoding.SparseTopK, fraction, errorFeedback);
        }

        throw new FormatException($"'{text}' is not a compression: use fp32, fp16, int8 or topk:FRACTION (e.g. topk:0.01), optionally ',no-ef'.");
    }

    public override string ToString() => Encoding switch
    {
        TensorEncoding.Float16Le => "fp16",
        TensorEncoding.Uint8Stochastic => ErrorFeedback ? "int8" : "int8,no-ef",
        TensorEncoding.SparseTopK => FormattableString.Invariant($"topk:{TopKFraction}") + (ErrorFeedback ? string.Empty : ",no-ef"),
        _ => "fp32",
    };
}

/// <summary>
/// Encodes a device's update. Top-k is taken over the whole model (every tensor keeps its entries
/// above one global threshold, at least one), which costs less accuracy than a fixed share per
/// tensor. With error feedback (Seide et al. 2014; Karimireddy et al. 2019) what compression
/// dropped stays on the device and is added to the next update, so top-k at 1% still moves every
/// coordinate eventually. The residual lives in memory: a restart drops it. One instance per
/// device; thread-safe.
/// </summary>
public sealed class UpdateCompressor
{
    private readonly object _gate = new();
    private float[]? _residual;

    /// <summary>Squared L2 norm of what is held back for the next update.</summary>
    public double ResidualSquaredNorm
    {
        get { lock (_gate) return _residual is null ? 0 : TensorPrimitives.SumOfSquares<float>(_residual); }
    }

    public IReadOnlyList<Tensor> Compress(ParameterLayout layout, ReadOnlySpan<float> delta, CompressionSettings settings, Random random)
    {
        if (settings.Encoding == TensorEncoding.Float32Le) return TensorCodec.Encode(layout, delta).ToList();
        if (delta.Length != layout.TotalLength) throw new ArgumentException($"Expected {layout.TotalLength} values, got {delta.Length}.", nameof(delta));

        lock (_gate)
        {
            var input = delta.ToArray();
            if (settings.ErrorFeedback)
            {
                if (_residual is null || _residual.Length != input.Length) _residual = new float[input.Length];
                TensorPrimitives.Add(input, _residual, input);
            }

            var sent = new float[input.Length];
            var threshold = settings.Encoding == TensorEncoding.SparseTopK ? GlobalThreshold(input, settings.TopKFraction) : 0f;
            var tensors = new List<Tensor>(layout.Tensors.Count);
            foreach (var p in layout.Tensors)
            {
                var values = input.AsSpan(p.Offset, p.Length);
                var decoded = sent.AsSpan(p.Offset, p.Length);
                tensors.Add(settings.Encoding switch
                {
                    TensorEncoding.Float16Le => EncodeHalf(p, values, decoded),
                    TensorEncoding.Uint8Stochastic => TensorCodec.EncodeUInt8Stochastic(p, values, random, decoded),
                    TensorEncoding.SparseTopK => EncodeAbove(p, values, threshold, decoded),
                    _ => throw new ArgumentException($"Unknown encoding {settings.Encoding}.", nameof(settings)),
                });
            }

            if (settings.ErrorFeedback) TensorPrimitives.Subtract(input, sent, _residual);
            return tensors;
        }
    }

    /// <summary>The magnitude of the k-th largest entry of the whole update, k = fraction × length: top-k is taken over the model, not per tensor.</summary>
    private static float GlobalThreshold(float[] values, float fraction)
    {
        var k = Math.Clamp((int)Math.Ceiling(fraction * values.Length), 1, values.Length);
        var magnitudes = new float[values.Length];
        TensorPrimitives.Abs(values, magnitudes);
        return Aggregation.OrderStatistics.Select(magnitudes, values.Length - k);
    }

    /// <summary>The tensor's entries at or above the global threshold; a tensor with none sends its largest one.</summary>
    private static Tensor EncodeAbove(ParameterTensor p, ReadOnlySpan<float> values, float threshold, Span<float> decoded)
    {
        var count = 0;
        foreach (var v in values) if (MathF.Abs(v) >= threshold) count++;
        return count > 0 ? TensorCodec.EncodeSparse(p, values, threshold, count, decoded) : TensorCodec.EncodeTopK(p, values, 1, decoded);
    }

    private static Tensor EncodeHalf(ParameterTensor p, ReadOnlySpan<float> values, Span<float> decoded)
    {
        var tensor = TensorCodec.EncodeFloat16(p, values);
        TensorCodec.Decode(tensor, decoded);
        return tensor;
    }
}
