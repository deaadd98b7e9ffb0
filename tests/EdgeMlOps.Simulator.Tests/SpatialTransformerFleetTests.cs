using static EdgeMlOps.Simulator.Tests.UploadedModelFleet;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A spatial transformer network exported by PyTorch (<c>export_spatial_transformer.py</c>: a localization net predicts
/// an affine transform within ±0.25 of the identity, GridSample resamples the scan on its grid, a CNN classifies it;
/// trained on digits 0–4 only), fine-tuned by real agents over MQTT on every digit in all its parameters — the
/// localization net's through GridSample's grid gradient. Its base grid and identity, buffers PyTorch keeps fixed, stay
/// frozen: the trained set is named.
/// </summary>
[Collection(FleetCollection.Name)]
public class SpatialTransformerFleetTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Parameters = "loc_conv.weight,loc_conv.bias,loc_fc.weight,loc_fc.bias,conv.weight,conv.bias,head.weight,head.bias";

    [Fact]
    public async Task PyTorchsSpatialTransformer_IsFineTunedByTheFleet_ThroughItsSamplingGrid()
    {
        var result = await FineTuneOnCsvAsync(output, Fixture("pytorch_spatial_transformer.onnx"), File.ReadLines(Fixture("digits_tokens.csv")), rounds: 5, learningRate: "0.05", "accuracy", "--trainable", Parameters);

        Assert.True(result.FinalAccuracy > result.Initial.Accuracy + 0.3, $"accuracy {result.Initial.Accuracy:F4} → {result.FinalAccuracy:F4}");
    }
}
