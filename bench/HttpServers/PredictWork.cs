using System.Text.Json;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.HttpProbe;

/// <summary>
/// The work behind both probes' <c>POST /v1/predict</c>, identical in each so only the HTTP stack differs: parse
/// <c>{"features":[…784 numbers…]}</c>, run the ONNX Runtime session of an MLP 784-128-10 (the agent's default model),
/// write <c>{"label":…,"probabilities":[…]}</c> — what the agent's local API does for a prediction.
/// </summary>
internal sealed class PredictWork : IDisposable
{
    private const int Inputs = 784;
    private readonly InferenceModel _model = InferenceModel.Load(
        ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpecText.Parse("mlp-784-128-10"), 1)).ToByteArray());

    /// <summary>Writes the response object's members and returns the status code.</summary>
    public int Handle(ReadOnlySpan<byte> body, Utf8JsonWriter json)
    {
        var features = new float[Inputs];
        var count = 0;
        var reader = new Utf8JsonReader(body);
        var inFeatures = false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName) inFeatures = reader.ValueTextEquals("features"u8);
            else if (inFeatures && reader.TokenType == JsonTokenType.Number)
            {
                if (count == Inputs) return Error(json, "too many features");
                features[count++] = reader.GetSingle();
            }
        }

        if (count != Inputs) return Error(json, $"expected {Inputs} features, got {count}");
        var batch = _model.Predict(features, 1);
        json.WriteNumber("label", batch.Labels[0]);
        json.WriteStartArray("probabilities");
        foreach (var p in batch.Probabilities) json.WriteNumberValue(p);
        json.WriteEndArray();
        return 200;
    }

    public void Dispose() => _model.Dispose();

    private static int Error(Utf8JsonWriter json, string message)
    {
        json.WriteString("error", message);
        return 400;
    }
}
