using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Http;

/// <summary>A real agent with an uploaded model's bytes installed under its signed interface, and its local API.</summary>
internal sealed class ServingAgent : IAsyncDisposable
{
    private LocalApi _api = null!;

    public OfflineAgent Device { get; private init; } = null!;

    public HttpClient Http { get; private init; } = null!;

    public static async Task<ServingAgent> StartAsync(UploadedClassifier model, byte[] inference)
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-agent-" + Guid.NewGuid().ToString("N"));
        Install(new ModelStore(Path.Combine(dir, "models")), model, inference);
        var device = await OfflineAgent.StartAsync(dir);
        var api = LocalApiOnAnyPort.Start(device.Agent);
        return new ServingAgent { Device = device, Http = new HttpClient { BaseAddress = api.BaseAddress() }, _api = api };
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _api.DisposeAsync();
        await Device.DisposeAsync();
    }

    /// <summary>Puts <paramref name="inference"/> (and the model's train step and front end) in the store as version 1 under the model's interface.</summary>
    public static void Install(ModelStore store, UploadedClassifier model, byte[] inference)
    {
        var a = new ModelAnnouncement
        {
            Header = ProtocolInfo.NewHeader("default", "aggregator", 1, 0),
            ModelName = "digits",
            Version = 1,
            Architecture = ModelArchitectures.From(model.Spec, []),
            Inference = new ArtifactRef { Name = "model.onnx", Sha256 = ContentHash.Sha256Hex(inference), Size = (ulong)inference.Length },
        };
        store.PutBlob(a.Inference.Sha256, inference);
        if (model.TrainStep is { } train)
        {
            a.TrainStep = new ArtifactRef { Name = "train_step.onnx", Sha256 = ContentHash.Sha256Hex(train), Size = (ulong)train.Length };
            store.PutBlob(a.TrainStep.Sha256, train);
        }

        if (model.Preprocess is { } front) store.PutBlob(ContentHash.Sha256Hex(front), front); // pinned by the interface

        store.Commit(a);
    }
}
