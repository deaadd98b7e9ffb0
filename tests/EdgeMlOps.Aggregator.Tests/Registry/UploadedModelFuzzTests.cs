using System.Diagnostics;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using EdgeMlOps.Shared.Onnx.Training;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// A broken or hostile model file (docs/SECURITY.md, "Mutation fuzzing"): an operator may add a model line at run time
/// with the file as the request's body, and the aggregator reads it, generates its train step and runs both in ONNX
/// Runtime in its own process. Real PyTorch exports — a CNN, a binary detector, a scripted loop and a stateful GRU served
/// by tensor names — are mutated 600 times each (<see cref="ProtobufMutator"/>: graph names, dims, attributes, opsets,
/// initializer bytes) and read and probed as the aggregator does. Each is taken or refused saying why
/// (<see cref="InvalidDataException"/>, <see cref="NotDifferentiableException"/>); nothing else is thrown, the process
/// survives, and a file taken is served byte for byte. Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw.
/// </summary>
public class UploadedModelFuzzTests(ITestOutputHelper output)
{
    private const int Mutations = 600;

    [Theory]
    [InlineData("pytorch_cnn_digits04.onnx", null)]
    [InlineData("pytorch_binary_detector.onnx", null)]
    [InlineData("pytorch_scripted_while.onnx", null)]
    [InlineData("pytorch_gru_keyword.onnx", "h_in>h_out")]
    public void MutatedModelFiles_AreTakenOrRefusedSayingWhy_AndATakenOneIsServedByteForByte(string fixture, string? state)
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", fixture));
        Assert.Equal(bytes, Read(bytes, state).Bytes); // the file itself is taken
        var original = ModelProto.Parser.ParseFrom(bytes);
        var mutator = new ProtobufMutator(FuzzSeed.Value);
        var (taken, refused, clock) = (0, 0, Stopwatch.StartNew());
        for (var i = 0; i < Mutations; i++)
        {
            var mutated = mutator.Mutate(original);
            try
            {
                Assert.Equal(mutated, Read(mutated, state).Bytes);
                taken++;
            }
            catch (Exception ex) when (ex is InvalidDataException or NotDifferentiableException)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                refused++;
            }
        }

        output.WriteLine($"{fixture}: {taken} taken, {refused} refused of {Mutations} in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.InRange(taken, 1, Mutations - 1);
    }

    /// <summary>What the aggregator does with a model file it is given: read it as the fleet's model, then run it and its train step.</summary>
    private static UploadedClassifier Read(byte[] bytes, string? state)
    {
        var model = state?.Split('>') is [var input, var output]
            ? UploadedClassifier.OpenTensors(bytes, [(input, output)])
            : UploadedClassifier.Open(bytes, new UploadedClassifierOptions("last:1"));
        UploadedModelProbe.Run(model);
        return model;
    }
}
