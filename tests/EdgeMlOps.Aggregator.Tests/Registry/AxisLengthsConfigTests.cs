using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Onnx;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// <c>ModelInterface:AxisLengths</c>, as an operator types it: PyTorch's frame classifier, exported with its frames a
/// free axis, becomes the fleet's model once the axis is pinned (probed at that length before any device sees it); a
/// served-only version is read with the same pins; a pin that does not fit is a configuration error naming the key.
/// </summary>
public sealed class AxisLengthsConfigTests
{
    private static readonly string Frames = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_frames.onnx");

    private static AggregatorOptions Read(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?> { ["Aggregator:Model"] = "onnx:" + Frames, ["Aggregator:ModelInterface:Trainable"] = "all" };
        foreach (var (key, value) in extra) settings["Aggregator:" + key] = value;
        return AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
    }

    [Fact]
    public void APinnedFreeAxis_MakesTheFileTheFleetsModel_ProbedAtThatLength()
    {
        var options = Read(("ModelInterface:AxisLengths", "frames=8"));
        Assert.Equal((64, 10), (options.Model.InputDim, options.Model.Classes));
        Assert.Equal([8L, 8L], options.Model.Graph!.SampleDims);
        UploadedModelProbe.Run(options.ModelSource!);

        var served = UploadedClassifier.Open(File.ReadAllBytes(Frames), new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { AxisLengths = AxisLengths.Parse("frames=8") });
        Assert.Empty(ServedClassifierVersionCheck.Admit(served, File.ReadAllBytes(Frames)).Values); // read with the fleet's pins
    }

    [Fact]
    public void ARangeOfLengths_MakesTheFileTheFleetsModel_ProbedAtTheShortestAndTheLongest()
    {
        var options = Read(("ModelInterface:AxisLengths", "frames=6..8"));
        Assert.Equal(64, options.Model.InputDim); // the longest
        Assert.Equal("frames=6..8", options.Model.Graph!.Varying!.Text);
        UploadedModelProbe.Run(options.ModelSource!);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        Assert.Contains(card.Rows!, r => r[0] == "served as" && r[2].Contains("pinned at the length the fleet serves and trains: frames=6..8", StringComparison.Ordinal)
            && r[2].Contains("samples of 6 to 8 'frames' (48 to 64 values in steps of 8), each served, kept and trained at its own length", StringComparison.Ordinal));

        var served = UploadedClassifier.Open(File.ReadAllBytes(Frames), new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { AxisLengths = AxisLengths.Parse("frames=6..8"), Varying = AxisLengths.Range("frames=6..8") });
        Assert.Empty(ServedClassifierVersionCheck.Admit(served, File.ReadAllBytes(Frames)).Values); // read with the fleet's range

        static IReadOnlyList<string> Errors(string axes) => Assert.Throws<OptionsValidationException>(() => Read(("ModelInterface:AxisLengths", axes))).Errors;
        Assert.Contains(Errors("frames=8..6"), e => e.Contains("ModelInterface:AxisLengths", StringComparison.Ordinal) && e.Contains("the shortest length must be below the longest", StringComparison.Ordinal));
        Assert.Single(Errors("frames=0..8"), e => e.Contains("is not AXIS=LENGTH or AXIS=SHORTEST..LONGEST", StringComparison.Ordinal)); // said once
    }

    /// <summary>
    /// A range of lengths on a model with a context input beside its frames (<c>export_digit_frames_context.py</c>,
    /// <c>ModelInterface:Input=rows</c>): its rows are the frames and then the 8 context values at every length; probed
    /// at the shortest (frames and context) and the longest, the card saying the layout.
    /// </summary>
    [Fact]
    public void ARangeOfLengths_WithAContextInput_IsProbedAtTheShortestAndTheLongest()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_frames_context.onnx"),
            ["Aggregator:ModelInterface:Trainable"] = "all", ["Aggregator:ModelInterface:Input"] = "rows", ["Aggregator:ModelInterface:AxisLengths"] = "frames=6..8",
        };
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        Assert.Equal(72, options.Model.InputDim); // the longest: 64 frame values, 8 context values
        Assert.Equal(8, options.Model.Graph!.Varying!.Trailing);
        UploadedModelProbe.Run(options.ModelSource!);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        Assert.Contains(card.Rows!, r => r[0] == "served as" && r[2].Contains("samples of 6 to 8 'frames' (56 to 72 values in steps of 8, the last 8 the context inputs')", StringComparison.Ordinal));
    }

    /// <summary>
    /// A range of lengths behind a front end (<c>export_frames_frontends.py</c>, <c>ModelInterface:Preprocess</c>): raw
    /// scans of 6 to 8 frames through PyTorch's calibration (the model sees as many frames) or resampler (the model sees
    /// 8 whatever the length, its own axis pinned apart); both probed at the shortest and the longest through the front
    /// end, the card saying what the model sees and what monitoring sketches.
    /// </summary>
    [Theory]
    [InlineData("pytorch_frames_calibration.onnx", "frames=6..8", "monitored by the mean over 'frames' of the features the front end makes of it", "feeding the model's 'rows' [8, 8] at the longest (the front end keeps the samples' 'frames') — serving and before every train step; monitoring sketches the mean of 64 features over 'frames' (8 values)")]
    [InlineData("pytorch_frames_framing.onnx", "samples=48..64,frames=8", "monitored by the mean over 'frames' of the features the front end makes of it", "feeding the model's 'rows' [8, 8] at the longest (the front end makes 6 to 8 'frames' of 48 to 64 'samples') — serving and before every train step; monitoring sketches the mean of 64 features over 'frames' (8 values)")]
    [InlineData("pytorch_frames_resample.onnx", "readings=6..8,frames=8", "monitored by the features the front end makes of it, of one shape whatever its length", "feeding the model's 'rows' [8, 8] — serving and before every train step; monitoring sketches those 64 features")]
    public void ARangeOfLengths_BehindAFrontEnd_IsProbedAtTheShortestAndTheLongestThroughIt(string front, string axes, string monitored, string fed)
    {
        var options = Read(("ModelInterface:Preprocess", Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", front)), ("ModelInterface:AxisLengths", axes));
        Assert.Equal(64, options.Model.InputDim); // the longest raw scan
        Assert.Equal(48, options.Model.Graph!.Varying!.ValuesAt(options.Model.Graph.Varying.Shortest)); // the shortest: 6 frames, or 48 samples
        UploadedModelProbe.Run(options.ModelSource!);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        var served = Assert.Single(card.Rows!, r => r[0] == "served as")[2];
        Assert.Contains("(48 to 64 values in steps of ", served, StringComparison.Ordinal);
        Assert.Contains(monitored, served, StringComparison.Ordinal);
        Assert.Contains(fed, served, StringComparison.Ordinal);
    }

    /// <summary>
    /// A context input beside a front end (PyTorch's calibration in front of the frame classifier with the scan's last
    /// row beside it): rows are the raw frames at 6 to 8 and then the 8 context values; probed at both ends, the card
    /// saying the context is fed as it is and sketched after the frames' mean.
    /// </summary>
    [Fact]
    public void AContextInputBesideAFrontEnd_IsProbedAtBothEnds_AndTheCardSaysHowItIsFed()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_digit_frames_context.onnx"), ["Aggregator:ModelInterface:Trainable"] = "all",
            ["Aggregator:ModelInterface:Input"] = "rows", ["Aggregator:ModelInterface:AxisLengths"] = "frames=6..8",
            ["Aggregator:ModelInterface:Preprocess"] = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_frames_calibration.onnx"),
        };
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        Assert.Equal((72, 16), (options.Model.InputDim, options.Model.MonitoredWidth));
        UploadedModelProbe.Run(options.ModelSource!);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        var served = Assert.Single(card.Rows!, r => r[0] == "served as")[2];
        Assert.Contains("samples of 6 to 8 'frames' (56 to 72 values in steps of 8, the last 8 the context inputs')", served, StringComparison.Ordinal);
        Assert.Contains("serving and before every train step, the context inputs fed as they are; monitoring sketches the mean of 64 features over 'frames' and then the context values (16 values)", served, StringComparison.Ordinal);
    }

    /// <summary>
    /// A framing front end whose frame count its shapes do not tell (PyTorch's framing with a Floor after it, an op the
    /// shape facts do not follow): the aggregator runs it at the shortest and the longest samples and finds 6 to 8
    /// frames, so the fleet's model takes them and is probed at both ends. Read without running it (as `models check`
    /// does, which loads no ONNX Runtime) it is taken as making one shape, and the probe at the shortest refuses that
    /// reading, saying where — before any device sees it.
    /// </summary>
    [Fact]
    public void AFrontEndWhoseCountsItsShapesDoNotTell_IsRunAtBothEnds_AndReadWithoutARun_RefusedByTheProbe()
    {
        var framing = EdgeMlOps.Shared.Onnx.Proto.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_frames_framing.onnx")));
        var last = framing.Graph.Node[^1];
        last.Output[0] = "framed";
        framing.Graph.Node.Add(new EdgeMlOps.Shared.Onnx.Proto.NodeProto { OpType = "Floor", Name = "floor", Input = { "framed" }, Output = { "rows" } });
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(framing);
        var front = Path.Combine(Path.GetTempPath(), $"edgemlops-floored-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(front, bytes);
        try
        {
            var options = Read(("ModelInterface:Preprocess", front), ("ModelInterface:AxisLengths", "samples=48..64,frames=8"));
            Assert.Equal("frames@0=6..8", options.Model.Graph!.FeatureLengths!.CanonicalText); // found by running it at 48 and 64 samples
            UploadedModelProbe.Run(options.ModelSource!);

            var unrun = UploadedClassifier.Open(File.ReadAllBytes(Frames), new UploadedClassifierOptions("all") { Preprocess = bytes, AxisLengths = AxisLengths.Parse("samples=48..64,frames=8"), Varying = AxisLengths.Range("samples=48..64") });
            Assert.Null(unrun.Spec.Graph!.FeatureLengths); // one shape, as far as its shapes tell
            var refused = Assert.Throws<InvalidDataException>(() => UploadedModelProbe.Run(unrun));
            Assert.Equal("on probe rows [8, 48], the shortest samples (samples=48..64): the preprocessing graph made 48 values per sample; the interface declares 64", refused.Message);
        }
        finally
        {
            File.Delete(front);
        }
    }

    /// <summary>
    /// A front end whose frame count each scan's data decides (PyTorch's trimming, which drops quiet frames), declared by
    /// a second range, <c>readings=6..8,frames=1..8</c>: the fleet's model takes 1 to 8 frames, signed as decided by the
    /// data, probed, and the card says so; a served version is checked behind it as the fleet reads it. A third range is
    /// an error naming the key.
    /// </summary>
    [Fact]
    public void AFrontEndWhoseCountsTheDataDecides_IsDeclaredByASecondRange_ProbedAndCarded()
    {
        var trimming = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_frames_trimming.onnx");
        var options = Read(("ModelInterface:Preprocess", trimming), ("ModelInterface:AxisLengths", "readings=6..8,frames=1..8"));
        var graph = options.Model.Graph!;
        Assert.True(graph.FeatureCountsByData);
        Assert.Equal(("readings=6..8", "frames@0=1..8"), (graph.Varying!.Text, graph.FeatureLengths!.CanonicalText));
        UploadedModelProbe.Run(options.ModelSource!);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        var served = Assert.Single(card.Rows!, r => r[0] == "served as")[2];
        Assert.Contains("readings=6..8,frames=1..8 (ModelInterface:AxisLengths", served, StringComparison.Ordinal);
        Assert.Contains("(the front end makes 1 to 8 'frames' of 6 to 8 'readings', as many as each sample's data decides)", served, StringComparison.Ordinal);

        var serveOnly = UploadedClassifier.Open(File.ReadAllBytes(Frames), new UploadedClassifierOptions(UploadedClassifier.ServeOnly)
        {
            Preprocess = File.ReadAllBytes(trimming), AxisLengths = AxisLengths.Parse("readings=6..8,frames=1..8"), Varying = ("readings", 6), Made = ("frames", 1),
        });
        Assert.Empty(ServedClassifierVersionCheck.Admit(serveOnly, File.ReadAllBytes(Frames)).Values); // a new version read behind the fleet's front end, as the fleet reads it

        // Scans of one length, a fixed window: the one range is the model's, the data alone decides.
        var window = Read(("ModelInterface:Preprocess", trimming), ("ModelInterface:AxisLengths", "readings=8,frames=1..8"));
        Assert.Equal((null, "frames@0=1..8", true), (window.Model.Graph!.Varying, window.Model.Graph.FeatureLengths!.CanonicalText, window.Model.Graph.FeatureCountsByData));
        UploadedModelProbe.Run(window.ModelSource!);
        var windowCard = Assert.Single(EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(window.ModelSource!.Bytes, window.ModelSource.TrainStep, window.Model).Rows!, r => r[0] == "served as")[2];
        Assert.Contains("(the front end makes 1 to 8 'frames' of each sample, as many as its data decides)", windowCard, StringComparison.Ordinal);
        var windowServeOnly = UploadedClassifier.Open(File.ReadAllBytes(Frames), new UploadedClassifierOptions(UploadedClassifier.ServeOnly)
        {
            Preprocess = File.ReadAllBytes(trimming), AxisLengths = AxisLengths.Parse("readings=8,frames=1..8"), Varying = AxisLengths.Range("readings=8,frames=1..8"),
        });
        Assert.True(windowServeOnly.Spec.Graph!.FeatureCountsByData);
        Assert.Empty(ServedClassifierVersionCheck.Admit(windowServeOnly, File.ReadAllBytes(Frames)).Values);

        var three = Assert.Throws<EdgeMlOps.Shared.Configuration.OptionsValidationException>(() => Read(("ModelInterface:Preprocess", trimming), ("ModelInterface:AxisLengths", "readings=6..8,frames=1..8,width=1..2")));
        Assert.Contains("ModelInterface:AxisLengths", three.Message, StringComparison.Ordinal);
        Assert.Contains("samples may vary in length along one axis only, and what a front end makes of them along one more", three.Message, StringComparison.Ordinal);
    }

    /// <summary><c>ModelInterface:MaxLoopTrips</c>: PyTorch's scripted while loop becomes the fleet's model, probed; out of range it is an error naming the key.</summary>
    [Fact]
    public void AWhileLoopTheDataEnds_TrainsWithADeclaredBound_FromConfiguration()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_scripted_while.onnx");
        AggregatorOptions ReadWhile(string? bound)
        {
            var settings = new Dictionary<string, string?> { ["Aggregator:Model"] = "onnx:" + path, ["Aggregator:ModelInterface:Trainable"] = "all", ["Aggregator:ModelInterface:MaxLoopTrips"] = bound };
            return AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        }

        var options = ReadWhile("16");
        Assert.NotNull(options.ModelSource!.TrainStep);
        UploadedModelProbe.Run(options.ModelSource);
        Assert.Equal(16, options.Model.Graph!.MaxLoopTrips); // signed with the interface
        Assert.Equal(options.Model, Shared.Models.ModelArchitectures.ToSpec(Shared.Models.ModelArchitectures.From(options.Model, [])));
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource.Bytes, options.ModelSource.TrainStep, options.Model);
        Assert.Contains(card.Rows!, r => r[0] == "served as" && r[2].Contains("a loop only the data ends is trained unrolled to 16 iterations (ModelInterface:MaxLoopTrips), a batch whose loop runs longer refused on the device", StringComparison.Ordinal));
        Assert.Equal(0, Read(("ModelInterface:AxisLengths", "frames=8"), ("ModelInterface:MaxLoopTrips", "16")).Model.Graph!.MaxLoopTrips); // no such loop: nothing signed
        Assert.Contains(Assert.Throws<OptionsValidationException>(() => ReadWhile(null)).Errors, e => e.Contains("ModelInterface:MaxLoopTrips=N", StringComparison.Ordinal));
        Assert.Contains(Assert.Throws<OptionsValidationException>(() => ReadWhile("0")).Errors, e => e.Contains("ModelInterface:MaxLoopTrips", StringComparison.Ordinal));
    }

    [Fact]
    public void AFreeAxisUnpinned_OrAPinThatDoesNotFit_IsAnErrorNamingTheKey()
    {
        static IReadOnlyList<string> Errors(params (string, string)[] settings) => Assert.Throws<OptionsValidationException>(() => Read(settings)).Errors;
        Assert.Contains(Errors(), e => e.Contains("pin the free one at the length the fleet serves and trains: ModelInterface:AxisLengths=frames=N", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:AxisLengths", "frames")), e => e.Contains("ModelInterface:AxisLengths", StringComparison.Ordinal) && e.Contains("is not AXIS=LENGTH", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:AxisLengths", "steps=8")), e => e.Contains("no input has an axis named 'steps'", StringComparison.Ordinal));
        Assert.Contains(Errors(("ModelInterface:Kind", "tensors"), ("ModelInterface:Trainable", null!), ("ModelInterface:AxisLengths", "frames=8")),
            e => e.Contains("ModelInterface:AxisLengths", StringComparison.Ordinal) && e.Contains("does not apply to ModelInterface:Kind=tensors", StringComparison.Ordinal));
    }
}
