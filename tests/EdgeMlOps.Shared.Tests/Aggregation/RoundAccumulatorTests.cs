using System.Runtime.InteropServices;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Aggregation;

public class RoundAccumulatorTests
{
    private static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-3-4-2");
    private static readonly ParameterLayout Layout = ParameterLayout.For(Spec);

    private static RoundAccumulator NewRound(params string[] selected) =>
        new("r1", "digits", 7, Layout, selected);

    private static float[] Delta(float value) => Enumerable.Repeat(value, Layout.TotalLength).ToArray();

    private static ModelUpdate Update(float[] delta, ulong samples, string round = "r1", ulong baseVersion = 7)
    {
        var update = new ModelUpdate
        {
            Header = ProtocolInfo.NewHeader("f", "d", 1, 0),
            RoundId = round,
            ModelName = "digits",
            BaseVersion = baseVersion,
            SampleCount = samples,
            Metrics = new LocalMetrics { Loss = 1, Accuracy = 0.5 },
        };
        update.Delta.AddRange(TensorCodec.Encode(Layout, delta));
        return update;
    }

    [Fact]
    public void Close_ReturnsSampleWeightedMean()
    {
        var round = NewRound("a", "b");
        Assert.True(round.Offer("a", Update(Delta(1f), 10)).Accepted);
        Assert.True(round.Offer("b", Update(Delta(4f), 30)).Accepted);
        var result = round.Close();
        Assert.All(result.MeanDelta, v => Assert.Equal(3.25f, v, 5));
        Assert.Equal(2, result.Contributors);
        Assert.Equal(40, result.Samples);
    }

    [Fact]
    public void Offer_BadUpdates_AreRejectedByReason_AndDoNotPoisonTheAggregate()
    {
        var round = NewRound("a", "b", "c", "d", "e", "f", "g");
        Assert.True(round.Offer("a", Update(Delta(2f), 5)).Accepted);

        var nan = Delta(1f);
        nan[3] = float.NaN;
        Assert.Equal(RejectionReason.NonFinite, round.Offer("b", Update(nan, 5)).Reason);
        var inf = Delta(1f);
        inf[^1] = float.PositiveInfinity;
        Assert.Equal(RejectionReason.NonFinite, round.Offer("b", Update(inf, 5)).Reason);

        var shortTensor = Update(Delta(1f), 5);
        shortTensor.Delta[0].Data = ByteString.CopyFrom(new byte[8]);
        Assert.Equal(RejectionReason.WrongShape, round.Offer("c", shortTensor).Reason);

        var wrongDims = Update(Delta(1f), 5);
        wrongDims.Delta[0].Dims[0] = 4;
        Assert.Equal(RejectionReason.WrongShape, round.Offer("c", wrongDims).Reason);

        var missing = Update(Delta(1f), 5);
        missing.Delta.RemoveAt(1);
        Assert.Equal(RejectionReason.WrongShape, round.Offer("c", missing).Reason);

        Assert.Equal(RejectionReason.Duplicate, round.Offer("a", Update(Delta(9f), 5)).Reason);
        Assert.Equal(RejectionReason.NotSelected, round.Offer("zz", Update(Delta(9f), 5)).Reason);
        Assert.Equal(RejectionReason.UnknownRound, round.Offer("d", Update(Delta(9f), 5, round: "r0")).Reason);
        Assert.Equal(RejectionReason.WrongBaseVersion, round.Offer("d", Update(Delta(9f), 5, baseVersion: 6)).Reason);
        Assert.Equal(RejectionReason.BadSampleCount, round.Offer("e", Update(Delta(9f), 0)).Reason);

        var oldProtocol = Update(Delta(9f), 5);
        oldProtocol.Header.ProtocolVersion = 99;
        Assert.Equal(RejectionReason.ProtocolVersion, round.Offer("f", oldProtocol).Reason);

        var result = round.Close();
        Assert.Equal(1, result.Contributors);
        Assert.All(result.MeanDelta, v => Assert.Equal(2f, v));
        Assert.Equal(RejectionReason.RoundClosed, round.Offer("g", Update(Delta(1f), 5)).Reason);
    }

    [Fact]
    public void Offer_ConcurrentUpdates_AllCounted()
    {
        var ids = Enumerable.Range(0, 64).Select(i => $"d{i}").ToArray();
        var round = NewRound(ids);
        Parallel.ForEach(ids, id => Assert.True(round.Offer(id, Update(Delta(1f), 2)).Accepted));
        var result = round.Close();
        Assert.Equal(64, result.Contributors);
        Assert.All(result.MeanDelta, v => Assert.Equal(1f, v, 6));
    }

    [Fact]
    public void StreamingWeightedSum_MatchesNaiveMean_AcrossVectorTails()
    {
        var random = new Random(3);
        foreach (var length in new[] { 1, 7, 8, 17, 1001 })
        {
            var sum = new StreamingWeightedSum(length);
            var expected = new double[length];
            double total = 0;
            for (var k = 0; k < 5; k++)
            {
                var v = Enumerable.Range(0, length).Select(_ => (float)random.NextDouble()).ToArray();
                var w = random.Next(1, 50);
                sum.Add(v, w);
                total += w;
                for (var i = 0; i < length; i++) expected[i] += w * v[i];
            }

            var mean = sum.Mean();
            for (var i = 0; i < length; i++) Assert.Equal(expected[i] / total, mean[i], 1e-6);
        }
    }

    [Fact]
    public void Encode_ProducesLittleEndianFloat32PerTensor()
    {
        var values = Enumerable.Range(0, Layout.TotalLength).Select(i => (float)i).ToArray();
        var tensors = TensorCodec.Encode(Layout, values).ToList();
        Assert.Equal(Layout.Tensors.Count, tensors.Count);
        var first = MemoryMarshal.Cast<byte, float>(tensors[1].Data.Span).ToArray();
        Assert.Equal(values.AsSpan(Layout.Tensors[1].Offset, Layout.Tensors[1].Length).ToArray(), first);
        Assert.Null(TensorCodec.Validate(Layout, tensors, out var sq));
        Assert.Equal(values.Sum(v => (double)v * v), sq, 0);
    }
}
