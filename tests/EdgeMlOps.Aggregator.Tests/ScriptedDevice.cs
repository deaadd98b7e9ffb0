using System.Buffers;
using System.Threading.Channels;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>A device whose every message is written by the test, over a real MQTT connection: for hostile and broken inputs.</summary>
internal sealed class ScriptedDevice : IAsyncDisposable
{
    private readonly EdgeMlOps.Runtime.Channels.IFleetChannel _transport;
    private readonly Topics _topics;
    private readonly Channel<RoundTask> _tasks = Channel.CreateUnbounded<RoundTask>();
    private ulong _sequence;
    private int _connections;

    /// <summary>A device enrolled in <paramref name="node"/>'s fleet (a certificate issued for <paramref name="id"/>) on its broker.</summary>
    public ScriptedDevice(string id, string fleet, AggregatorNode node)
        : this(id, fleet, node.BrokerEndpoint, node.BrokerEndpoint.Tls ? CertificateFor(node, id) : null)
    {
    }

    public ScriptedDevice(string id, string fleet, MqttEndpoint broker, MqttTlsSettings? tls)
        : this(id, fleet, new MqttTransport(new MqttTransportOptions(id, broker) { CleanStart = true, Tls = tls }))
    {
    }

    /// <summary>A device on any fleet channel — the in-memory hub of a test whose aggregator has replicas.</summary>
    public ScriptedDevice(string id, string fleet, EdgeMlOps.Runtime.Channels.IFleetChannel channel)
    {
        Id = id;
        _topics = new Topics(fleet);
        _transport = channel;
        _transport.MessageReceived = (topic, payload) =>
        {
            if (topic == _topics.Task(id)) _tasks.Writer.TryWrite(RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(payload).Body));
            return Task.CompletedTask;
        };
        _transport.Connected = _ =>
        {
            Interlocked.Increment(ref _connections);
            return Task.CompletedTask;
        };
    }

    public string Id { get; }

    public bool IsConnected => _transport.IsConnected;

    /// <summary>
    /// Whether the broker dropped the connection since it was first made: it is down now, or the transport has already
    /// made it again — its first reconnect waits 0–250 ms (full jitter), which can be shorter than a test's poll under load.
    /// </summary>
    public bool WasDisconnected => !_transport.IsConnected || Volatile.Read(ref _connections) > 1;

    public static MqttTlsSettings CertificateFor(AggregatorNode node, string id)
    {
        var certificate = node.Security.IssueDeviceCertificate(id);
        return new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate);
    }

    public async Task ConnectAsync(ulong samples)
    {
        await _transport.SubscribeAsync([_topics.Task(Id)], CancellationToken.None);
        await _transport.ConnectAsync(CancellationToken.None);
        await PublishAsync("status", new DeviceStatus { Header = Header(), State = DeviceState.Online, SampleCount = samples });
    }

    /// <summary>A well-formed update for <paramref name="task"/>: every parameter of the fixture's model set to <paramref name="value"/>.</summary>
    public ModelUpdate Update(RoundTask task, float value, ulong samples = 5)
    {
        var layout = EdgeMlOps.Shared.Models.ParameterLayout.For(AggregatorFixture.Spec);
        var update = new ModelUpdate { Header = Header(), RoundId = task.RoundId, ModelName = task.ModelName, BaseVersion = task.BaseVersion, SampleCount = samples };
        update.Delta.AddRange(EdgeMlOps.Shared.Tensors.TensorCodec.Encode(layout, Enumerable.Repeat(value, layout.TotalLength).ToArray()));
        return update;
    }

    public Header Header() => ProtocolInfo.NewHeader(_topics.Fleet, Id, ++_sequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    public async Task<RoundTask> NextTaskAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return await _tasks.Reader.ReadAsync(cts.Token);
    }

    public Task PublishAsync(string kind, IMessage message) => PublishRawAsync(kind, message.ToByteArray());

    public Task PublishRawAsync(string kind, byte[] payload) =>
        _transport.PublishAsync($"{_topics.Prefix}/devices/{Id}/{kind}", payload, retain: false, CancellationToken.None);

    public ValueTask DisposeAsync() => _transport.DisposeAsync();
}
