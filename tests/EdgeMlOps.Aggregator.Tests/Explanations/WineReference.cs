using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Explanations;

/// <summary>
/// The PyTorch-trained wine classifier (exported with torch.onnx.export, admitted like an upload) and what scikit-learn
/// and an itertools Shapley computation said about it (Fixtures/export_wine_classifier.py).
/// </summary>
internal sealed class WineReference : IDisposable
{
    public const int Inputs = 13;

    private WineReference(InferenceModel model, JsonDocument reference)
    {
        Model = model;
        Reference = reference.RootElement;
        Rows = Reference.GetProperty("rows").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        Labels = Reference.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        _document = reference;
    }

    private readonly JsonDocument _document;

    public InferenceModel Model { get; }

    public JsonElement Reference { get; }

    public float[] Rows { get; }

    public long[] Labels { get; }

    public static WineReference Load()
    {
        var weights = UploadedGraphCheck.Admit(Fixture("wine_mlp.onnx"));
        var model = InferenceModel.Load(ClassifierGraphs.BuildInference(weights).ToByteArray());
        return new WineReference(model, JsonDocument.Parse(Fixture("wine_reference.json")));
    }

    public static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public void Dispose()
    {
        Model.Dispose();
        _document.Dispose();
    }

    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Explanations", "Fixtures", name));
}
