using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Hashing;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// <c>ModelInterface:Preprocess</c>, as an operator types it: the file of an ONNX graph the device runs before the
/// model (PyTorch's log-mel front end before PyTorch's keyword CNN). Its sha256 and interface are signed in the spec,
/// the probe runs both files, a new version of the model is probed behind it, a classifier the fleet trains takes one
/// too; a file that does not fit and a missing one are configuration errors naming it.
/// </summary>
public sealed class PreprocessConfigTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    private static readonly string Kws = Fixture("pytorch_kws_1d.onnx");

    private static readonly string Front = Fixture("pytorch_mel_frontend.onnx");

    private static AggregatorOptions Read(string model, string preprocess, string? window = null) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + model, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:Preprocess"] = preprocess, ["Aggregator:ModelInterface:Window"] = window,
        }).Build());

    private static IReadOnlyList<string> Errors(string model, string preprocess, string? window = null) =>
        Assert.Throws<OptionsValidationException>(() => Read(model, preprocess, window)).Errors;

    [Fact]
    public void ThePreprocessKey_PinsTheFileInTheSignedInterface_AndTheProbeRunsBothFiles()
    {
        var options = Read(Kws, Front, window: "wave:1");
        var tensors = options.Model.Graph!.Tensors!;
        Assert.Equal(File.ReadAllBytes(Front), options.ModelSource!.Preprocess);
        Assert.Equal((ContentHash.Sha256Hex(File.ReadAllBytes(Front)), new FileInfo(Front).Length), (tensors.Preprocess!.Sha256, tensors.Preprocess.Size));
        Assert.Equal("wave@1", tensors.Windows.Single().CanonicalText); // a window on the raw audio callers stream
        UploadedModelProbe.Run(options.ModelSource);

        // The next version of the CNN (here the same file again) is probed behind the same front end.
        Assert.Empty(TensorVersionCheck.Admit(options.ModelSource, File.ReadAllBytes(Kws)).Values);
    }

    [Fact]
    public void AFrontEndThatDoesNotFit_AMissingFile_AWindowOnAnInputItMakes_AndAClassifiersFrontEndWithoutItsFeatures_AreConfigurationErrors()
    {
        Assert.Contains(Errors(Fixture("pytorch_image_scorer.onnx"), Front), e => e.StartsWith("Aggregator:ModelInterface:Preprocess: the preprocessing output 'features' is no model input (inputs: image)", StringComparison.Ordinal));
        Assert.Contains(Errors(Kws, "no-such-front.onnx"), e => e.StartsWith("Aggregator:ModelInterface:Preprocess: 'no-such-front.onnx':", StringComparison.Ordinal));
        Assert.Contains(Errors(Kws, Kws), e => e.StartsWith("Aggregator:ModelInterface:Preprocess: the preprocessing output 'probabilities' is no model input", StringComparison.Ordinal));

        // Callers feed the wave; 'features' is made on the device, so nothing streams into it.
        Assert.Contains(Errors(Kws, Front, window: "features:2"), e => e.StartsWith("Aggregator:ModelInterface:Window: the window names no input 'features' a caller feeds (inputs: wave)", StringComparison.Ordinal));

        // A classifier takes one too, but only a front end that makes its features input with its rank.
        var classifier = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Fixture("pytorch_cnn_digits04.onnx"), ["Aggregator:ModelInterface:Preprocess"] = Front,
        }).Build())).Errors;
        Assert.Contains(classifier, e => e.StartsWith("Aggregator:ModelInterface:Preprocess: the preprocessing graph must make one float output, the features input 'features' with 4 axes", StringComparison.Ordinal));
    }

    [Fact]
    public void AClassifierTheFleetTrains_TakesAFrontEnd_AndCallersSendWhatItTakes()
    {
        var options = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Kws, ["Aggregator:ModelInterface:Trainable"] = "last:1", ["Aggregator:ModelInterface:Preprocess"] = Front,
        }).Build());
        Assert.Equal((8192, 5, true), (options.Model.InputDim, options.Model.Classes, options.Model.Trainable));
        Assert.Equal(ContentHash.Sha256Hex(File.ReadAllBytes(Front)), options.Model.Graph!.Preprocess!.Sha256);
        Assert.Equal(File.ReadAllBytes(Front), options.ModelSource!.Preprocess);
        UploadedModelProbe.Run(options.ModelSource); // inference and one train step, both through the front end
    }
}
