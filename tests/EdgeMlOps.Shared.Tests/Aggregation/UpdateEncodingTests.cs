using System.Buffers.Binary;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Aggregation;

public class UpdateEncodingTests
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(ModelSpecText.Parse("mlp-50-20-10"));

    private static float[] RandomDelta(int seed, float scale = 0.01f)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, Layout.TotalLength).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
    }

    private static float[] Decode(IReadOnlyList<Tensor> tensors)
    {
        Assert.Null(TensorCodec.Validate(Layout, tensors, out _));
        var result = new float[Layout.TotalLength];
        foreach (var t in tensors)
        {
            Layout.TryGet(t.Name, out var p);
            TensorCodec.Decode(t, result.AsSpan(p.Offset, p.Length));
        }

        return result;
    }

    [Fact]
    public void Fp16_HalvesTheBytes_WithinHalfPrecision()
    {
        var delta = RandomDelta(1);
        var tensors = new UpdateCompressor().Compress(Layout, delta, CompressionSettings.Parse("fp16"), new Random(1));
        Assert.Equal(Layout.TotalLength * 2, TensorCodec.PayloadBytes(tensors));
        var decoded = Decode(tensors);
        for (var i = 0; i < delta.Length; i++) Assert.Equal(delta[i], decoded[i], 1e-5f);
    }

    [Fact]
    public void Int8_QuarterOfTheBytes_Unbiased_WithinOneStep()
    {
        var delta = RandomDelta(2);
        var settings = CompressionSettings.Parse("int8,no-ef");
        var sum = new double[delta.Length];
        const int trials = 400;
        for (var t = 0; t < trials; t++)
        {
            var tensors = new UpdateCompressor().Compress(Layout, delta, settings, new Random(t));
            Assert.Equal(Layout.TotalLength + Layout.Tensors.Count * TensorCodec.QuantizedHeaderBytes, TensorCodec.PayloadBytes(tensors));
            var decoded = Decode(tensors);
            for (var i = 0; i < delta.Length; i++)
            {
                Assert.True(Math.Abs(decoded[i] - delta[i]) <= 0.02f / 255 + 1e-7, $"value {i} off by more than one step");
                sum[i] += decoded[i];
            }
        }

        // Stochastic rounding is unbiased: the mean of many encodings converges on the value.
        var meanError = sum.Select((s, i) => Math.Abs(s / trials - delta[i])).Average();
        Assert.True(meanError < 0.02 / 255 / 8, $"mean error {meanError}");
    }

    [Fact]
    public void TopK_SendsTheLargest_AndErrorFeedbackKeepsTheRest()
    {
        var delta = RandomDelta(3);
        var compressor = new UpdateCompressor();
        var settings = CompressionSettings.Parse("topk:0.05");
        var tensors = compressor.Compress(Layout, delta, settings, new Random(1));
        var decoded = Decode(tensors);

        // Top-k over the whole update: about 5% of all entries, and no dropped entry larger than a kept one.
        var k = (int)Math.Ceiling(0.05 * delta.Length);
        var kept = Enumerable.Range(0, delta.Length).Where(i => decoded[i] != 0).ToArray();
        Assert.InRange(kept.Length, k, k + Layout.Tensors.Count);
        Assert.All(kept, i => Assert.Equal(delta[i], decoded[i]));
        var smallestKept = kept.Min(i => Math.Abs(delta[i]));
        var largestDropped = Enumerable.Range(0, delta.Length).Where(i => decoded[i] == 0).Max(i => Math.Abs(delta[i]));
        Assert.True(largestDropped <= smallestKept || kept.Count(i => Math.Abs(delta[i]) < largestDropped) <= Layout.Tensors.Count, "only the one-per-tensor minimum may be smaller");
        Assert.Equal(8L * kept.Length, TensorCodec.PayloadBytes(tensors));

        // What was not sent is held back: sent + residual = delta.
        var residual = delta.Select((d, i) => (double)d - decoded[i]).Sum(v => v * v);
        Assert.Equal(residual, compressor.ResidualSquaredNorm, 6);

        // A zero update next round still delivers the held-back mass.
        var next = Decode(compressor.Compress(Layout, new float[delta.Length], settings, new Random(2)));
        Assert.True(next.Count(v => v != 0) > 0);
        Assert.True(compressor.ResidualSquaredNorm < residual);
    }

    [Fact]
    public void HostileEncodings_AreRejected_WithAReason()
    {
        var p = Layout.Tensors[1];
        var values = RandomDelta(4).AsSpan(p.Offset, p.Length);
        var sent = new float[p.Length];

        Tensor WithData(Tensor t, byte[] data)
        {
            var copy = t.Clone();
            copy.Data = ByteString.CopyFrom(data);
            return copy;
        }

        (RejectionReason, string)? Check(Tensor replaced)
        {
            var tensors = TensorCodec.Encode(Layout, RandomDelta(5)).ToList();
            tensors[1] = replaced;
            return TensorCodec.Validate(Layout, tensors, out _);
        }

        var sparse = TensorCodec.EncodeTopK(p, values, 3, sent);
        var bytes = sparse.Data.ToByteArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 0); // indices 5, 0, ... no longer increase
        Assert.Equal(RejectionReason.WrongShape, Check(WithData(sparse, bytes))!.Value.Item1);
        bytes = sparse.Data.ToByteArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)p.Length); // past the end
        Assert.Equal(RejectionReason.WrongShape, Check(WithData(sparse, bytes))!.Value.Item1);
        Assert.Equal(RejectionReason.WrongShape, Check(WithData(sparse, bytes[..^3]))!.Value.Item1);
        bytes = sparse.Data.ToByteArray();
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(12), float.NaN);
        Assert.Equal(RejectionReason.NonFinite, Check(WithData(sparse, bytes))!.Value.Item1);

        var quantized = TensorCodec.EncodeUInt8Stochastic(p, values, new Random(1), sent);
        bytes = quantized.Data.ToByteArray();
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), float.PositiveInfinity);
        Assert.Equal(RejectionReason.NonFinite, Check(WithData(quantized, bytes))!.Value.Item1);
        Assert.Equal(RejectionReason.WrongShape, Check(WithData(quantized, bytes[..^1]))!.Value.Item1);

        var half = TensorCodec.EncodeFloat16(p, values);
        bytes = half.Data.ToByteArray();
        BinaryPrimitives.WriteHalfLittleEndian(bytes, Half.NaN);
        Assert.Equal(RejectionReason.NonFinite, Check(WithData(half, bytes))!.Value.Item1);

        var unknown = half.Clone();
        unknown.Encoding = (TensorEncoding)99;
        Assert.Equal(RejectionReason.Malformed, Check(unknown)!.Value.Item1);
    }

    [Fact]
    public void Accumulate_DecodesEveryEncoding_IntoTheSameMean()
    {
        var a = RandomDelta(6);
        var b = RandomDelta(7);
        var exact = a.Zip(b, (x, y) => (x * 1.0 + y * 3.0) / 4).ToArray();
        foreach (var text in new[] { "fp32", "fp16", "int8", "topk:1" })
        {
            var settings = CompressionSettings.Parse(text);
            var mean = new MeanCombiner(Layout.TotalLength);
            mean.Add(new Contribution("a", 1, 1, 1), Layout, new UpdateCompressor().Compress(Layout, a, settings, new Random(1)));
            mean.Add(new Contribution("b", 3, 1, 3), Layout, new UpdateCompressor().Compress(Layout, b, settings, new Random(2)));
            var combined = mean.Combine();
            var tolerance = text == "int8" ? 0.02f / 255 : 1e-5f;
            for (var i = 0; i < exact.Length; i++) Assert.Equal(exact[i], combined[i], tolerance);
        }
    }

    [Theory]
    [InlineData("fp32", TensorEncoding.Float32Le)]
    [InlineData("topk:0.01", TensorEncoding.SparseTopK)]
    [InlineData("int8,no-ef", TensorEncoding.Uint8Stochastic)]
    public void CompressionSettings_RoundTripThroughText(string text, TensorEncoding encoding)
    {
        var settings = CompressionSettings.Parse(text);
        Assert.Equal(encoding, settings.Encoding);
        Assert.Equal(settings, CompressionSettings.Parse(settings.ToString()));
        Assert.Throws<FormatException>(() => CompressionSettings.Parse("topk:2"));
    }
}
