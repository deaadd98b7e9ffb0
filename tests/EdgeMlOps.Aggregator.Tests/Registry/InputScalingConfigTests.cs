using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary><c>ModelInterface:Scale</c> as an operator types it: read, checked against the file's inputs, signed in the spec, shown on the card.</summary>
public sealed class InputScalingConfigTests
{
    private static readonly string Scorer = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_color_scorer.onnx");

    private static AggregatorOptions Read(string scale, string kind = "tensors") =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Model"] = "onnx:" + Scorer, ["Aggregator:ModelInterface:Kind"] = kind, ["Aggregator:ModelInterface:Scale"] = scale,
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
}
