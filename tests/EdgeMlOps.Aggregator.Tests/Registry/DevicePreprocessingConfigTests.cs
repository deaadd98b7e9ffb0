using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary><c>ModelInterface:Scale</c> and <c>ModelInterface:Window</c> as an operator types them: read, checked against the file's inputs, signed in the spec.</summary>
public sealed class DevicePreprocessingConfigTests
{
    private static readonly string Scorer = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_color_scorer.onnx");

    private static readonly string Kws = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_kws_1d.onnx");

    private static AggregatorOptions Read(string scale, string kind = "tensors", string? window = null, string? model = null) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + (model ?? Scorer), ["Aggregator:ModelInterface:Kind"] = kind, ["Aggregator:ModelInterface:Scale"] = scale,
            ["Aggregator:ModelInterface:Window"] = window,
        }).Build());

    [Fact]
    public void TheScaleKey_DeclaresTheNormalizationTheDeviceApplies()
    {
        var options = Read("image:1:0.485,0.456,0.406:0.229,0.224,0.225");
        Assert.Equal([new InputScaling("image", 1, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f])], options.Model.Graph!.Tensors!.Scalings);
        Assert.Same(options.ModelSource!.Spec, options.Model);
    }

    [Fact]
    public void AMalformedOrMisfittingScale_IsAConfigurationErrorNamingTheEntry()
    {
        var malformed = Assert.Throws<OptionsValidationException>(() => Read("image:1:0.5,0.5")).Errors;
        Assert.Contains("Aggregator:ModelInterface:Scale: 'image:1:0.5,0.5': is not INPUT:AXIS:MEAN,…:STD,… (AXIS −1: one mean and deviation for every value)", malformed);
        var notANumber = Assert.Throws<OptionsValidationException>(() => Read("image:-1:zero:1")).Errors;
        Assert.Contains(notANumber, e => e.Contains("'zero' is not a number", StringComparison.Ordinal));
        var misfit = Assert.Throws<OptionsValidationException>(() => Read("image:1:0.5,0.5:1,1")).Errors;
        Assert.Contains(misfit, e => e.StartsWith("Aggregator:ModelInterface:Scale: the scaling of 'image' has 2 pairs along axis 1", StringComparison.Ordinal));
        var onAClassifier = Assert.Throws<OptionsValidationException>(() => Read("image:-1:0:1", kind: "classifier")).Errors;
        Assert.Contains(onAClassifier, e => e.StartsWith("Aggregator:ModelInterface:Scale: applies only to ModelInterface:Kind=tensors", StringComparison.Ordinal));
    }

    [Fact]
    public void TheWindowKey_DeclaresAStreamedInput_AndAWindowThatDoesNotFitIsNamed()
    {
        var tensors = Read(string.Empty, window: "features:2", model: Kws).Model.Graph!.Tensors!;
        Assert.Equal([new InputWindow("features", 2)], tensors.Windows); // 32 frames of 40 bins
        var batch = Assert.Throws<OptionsValidationException>(() => Read(string.Empty, window: "features:0", model: Kws)).Errors;
        Assert.Contains(batch, e => e.StartsWith("Aggregator:ModelInterface:Window: the window of 'features' is along axis 0; the input is features:float[-1,40,32]", StringComparison.Ordinal));
        var malformed = Assert.Throws<OptionsValidationException>(() => Read(string.Empty, window: "features", model: Kws)).Errors;
        Assert.Contains("Aggregator:ModelInterface:Window: 'features': is not INPUT:AXIS", malformed);
        var both = Read("features:-1:0:2", window: "features:2", model: Kws).Model.Graph!.Tensors!; // scaled, then windowed
        Assert.Equal((1, 1), (both.Scalings.Count, both.Windows.Count));
    }
}
