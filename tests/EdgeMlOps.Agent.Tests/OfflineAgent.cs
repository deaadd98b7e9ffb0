using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Tests;

/// <summary>A real agent whose model was installed on disk earlier and whose broker is unreachable.</summary>
internal sealed class OfflineAgent : IAsyncDisposable
{
    public static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-4-5-3");

    private OfflineAgent(string directory, DeviceAgent agent, SampleStore store, Outbox outbox)
    {
        Directory = directory;
        Agent = agent;
        Store = store;
        Outbox = outbox;
    }

    public string Directory { get; }

    public DeviceAgent Agent { get; }

    public SampleStore Store { get; }

    public Outbox Outbox { get; }

    public static Task<OfflineAgent> StartAsync(bool installModel = true, Func<AgentOptions, AgentOptions>? configure = null, long maxStoreBytes = 0, TimeProvider? time = null) =>
        StartAsync(Path.Combine(Path.GetTempPath(), "edgemlops-agent-" + Guid.NewGuid().ToString("N")), installModel, configure, maxStoreBytes, time);

    /// <summary>Starts an agent on <paramref name="dir"/> (reusing what an earlier agent left there), on <paramref name="time"/> (the system clock by default).</summary>
    public static async Task<OfflineAgent> StartAsync(string dir, bool installModel = true, Func<AgentOptions, AgentOptions>? configure = null, long maxStoreBytes = 0, TimeProvider? time = null)
    {
        var models = new ModelStore(Path.Combine(dir, "models"));
        if (installModel && models.CurrentVersion is null) Install(models, ModelWeights.Initialize(Spec, 5), 3);
        var store = new SampleStore(Path.Combine(dir, "agent.db"), 1000, 1000, maxBytes: maxStoreBytes);
        var outbox = new Outbox(Path.Combine(dir, "outbox.db"), 100);
        var agent = new DeviceAgent(
            (configure ?? (o => o))(new AgentOptions { DeviceId = "api-dev", Broker = new MqttEndpoint("127.0.0.1", BrokerPorts.Free()) }),
            new AgentDependencies { Store = store, Outbox = outbox, Models = models, Http = new HttpClient(), Time = time ?? TimeProvider.System });
        await agent.StartAsync(CancellationToken.None);
        return new OfflineAgent(dir, agent, store, outbox);
    }

    public static void Install(ModelStore store, ModelWeights weights, ulong version)
    {
        var inference = ClassifierGraphs.BuildInference(weights).ToByteArray();
        var train = ClassifierGraphs.BuildTrainStep(weights.Spec).ToByteArray();
        var a = new ModelAnnouncement
        {
            Header = ProtocolInfo.NewHeader("default", "aggregator", 1, 0),
            ModelName = "test",
            Version = version,
            Architecture = new ModelArchitecture { InputDim = (uint)weights.Spec.InputDim, Classes = (uint)weights.Spec.Classes },
            Inference = new ArtifactRef { Name = "model.onnx", Sha256 = ContentHash.Sha256Hex(inference), Size = (ulong)inference.Length },
            TrainStep = new ArtifactRef { Name = "train_step.onnx", Sha256 = ContentHash.Sha256Hex(train), Size = (ulong)train.Length },
        };
        a.Architecture.Hidden.AddRange(weights.Spec.Hidden.Select(h => (uint)h));
        store.PutBlob(a.Inference.Sha256, inference);
        store.PutBlob(a.TrainStep.Sha256, train);
        store.Commit(a);
    }

    public async ValueTask DisposeAsync()
    {
        await Agent.DisposeAsync();
        Store.Dispose();
        Outbox.Dispose();
    }
}
