using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Simulator.Tests.Hostile;

/// <summary>
/// A real agent's channel turned hostile: while armed for a kind (status, update, eval, profile), every message of that
/// kind the agent publishes is preceded on the wire by <see cref="Copies"/> mutations of it (<see cref="ProtobufMutator"/>), sent
/// under the device's own authenticated connection. Most mutations keep a well-formed header naming the device with a
/// fresh message id, so they pass the envelope's checks and reach what the aggregator does with the body; the rest
/// have their header mutated too. The agent's own message follows, unchanged. The relay keeps the agent's latest message
/// of each kind and the tasks it was sent, as seeds for mutating deeper than a round stays open.
/// </summary>
internal sealed class MutatingRelay(IFleetChannel inner, string deviceId, Topics topics, int seed) : DelegatingFleetChannel(inner)
{
    private readonly ProtobufMutator _mutator = new(seed);
    private readonly Random _random = new(seed + 1);
    private readonly Dictionary<string, int> _sent = [];
    private readonly Dictionary<string, byte[]> _originals = [];
    private readonly List<RoundTask> _tasks = [];
    private readonly Dictionary<string, byte[]> _received = [];
    private int _fresh;

    private volatile string? _armed;

    /// <summary>Mutations sent before each of the agent's own messages of the armed kind.</summary>
    public int Copies { get; init; } = 400;

    /// <summary>The kind of message mutated from now on (one at a time: a forged status can take the device out of the round whose updates are next); null for none.</summary>
    public string? Armed
    {
        get => _armed;
        set => _armed = value;
    }

    /// <summary>Mutations sent so far, by message kind.</summary>
    public IReadOnlyDictionary<string, int> Sent
    {
        get
        {
            lock (_sent) return new Dictionary<string, int>(_sent);
        }
    }

    /// <summary>The agent's latest message of a kind, as it sent it.</summary>
    public byte[] Original(string kind)
    {
        lock (_sent) return _originals[kind];
    }

    /// <summary>The round and evaluation tasks the agent was sent.</summary>
    public IReadOnlyList<RoundTask> Tasks
    {
        get
        {
            lock (_tasks) return [.. _tasks];
        }
    }

    /// <summary>The latest message the agent was sent on each topic.</summary>
    public IReadOnlyDictionary<string, byte[]> Received
    {
        get
        {
            lock (_tasks) return new Dictionary<string, byte[]>(_received);
        }
    }

    /// <summary>Hands <paramref name="payload"/> to the agent as if the broker delivered it on <paramref name="topic"/>.</summary>
    public Task InjectAsync(string topic, byte[] payload) => MessageReceived!(topic, new System.Buffers.ReadOnlySequence<byte>(payload));

    protected override bool Delivers(string topic, System.Buffers.ReadOnlySequence<byte> payload)
    {
        lock (_tasks) _received[topic] = System.Buffers.BuffersExtensions.ToArray(payload);
        if (topic == topics.Task(deviceId))
        {
            var task = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(payload).Body);
            lock (_tasks) _tasks.Add(task);
        }

        return true;
    }

    public override async Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
    {
        if (topics.TryParseDeviceTopic(topic, out var from, out var what) && from == deviceId)
        {
            lock (_sent) _originals[what] = payload;
        }

        if (topics.TryParseDeviceTopic(topic, out var sender, out var kind) && sender == deviceId && kind == _armed)
        {
            for (var i = 0; i < Copies; i++)
            {
                if (Mutation(kind, payload) is not { } mutated) break;
                await base.PublishAsync(topic, mutated, retain: false, cancellationToken).ConfigureAwait(false);
                lock (_sent) _sent[kind] = _sent.GetValueOrDefault(kind) + 1;
            }
        }

        return await base.PublishAsync(topic, payload, retain, cancellationToken).ConfigureAwait(false);
    }

    private byte[]? Mutation(string kind, byte[] payload)
    {
        lock (_mutator)
        {
            return kind switch
            {
                "status" => _mutator.Mutate(DeviceStatus.Parser.ParseFrom(payload), m => m.Header = Envelope(m.Header)),
                "update" => _mutator.Mutate(ModelUpdate.Parser.ParseFrom(payload), m => m.Header = Envelope(m.Header)),
                "eval" => _mutator.Mutate(EvaluationResult.Parser.ParseFrom(payload), m => m.Header = Envelope(m.Header)),
                "profile" => _mutator.Mutate(ProfileReport.Parser.ParseFrom(payload), m => m.Header = Envelope(m.Header)),
                _ => null,
            };
        }
    }

    /// <summary>Four times in five, a header that passes as the device's own with a message id never used; else as mutated.</summary>
    private Header? Envelope(Header? header)
    {
        if (_random.Next(5) == 0) return header;
        var passing = header?.Clone() ?? new Header();
        passing.ProtocolVersion = ProtocolInfo.CurrentVersion;
        passing.SenderId = deviceId;
        passing.Fleet = topics.Fleet;
        passing.MessageId = $"{deviceId}:fuzz:{Interlocked.Increment(ref _fresh)}";
        return passing;
    }
}
