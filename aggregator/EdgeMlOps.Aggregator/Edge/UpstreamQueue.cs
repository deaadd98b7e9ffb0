namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// What a gateway sends to the fleet's broker, in order, kept while the link is down. Bounded: past
/// <see cref="MaxRelays"/> waiting relays (statuses, evaluations, profiles, a model line's updates), or past
/// <see cref="MaxRelayBytes"/> of them, the oldest relays are dropped and counted; partials are never dropped (one per
/// round and batch, and the reason the site trained).
/// </summary>
internal sealed class UpstreamQueue
{
    /// <summary>Most relayed device messages kept while the fleet's broker is away.</summary>
    public const int MaxRelays = 10_000;

    /// <summary>Most bytes of relayed device messages kept while the fleet's broker is away (a line's updates go one by one): 256 MiB.</summary>
    public const long MaxRelayBytes = 256L << 20;

    private readonly Lock _gate = new();
    private readonly LinkedList<Queued> _messages = new();
    private int _relays;
    private long _relayBytes;
    private long _dropped;

    public int Count
    {
        get { lock (_gate) return _messages.Count; }
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>A device's message to relay as it is (<paramref name="retain"/>: a status, retained as the device's own is).</summary>
    public void Enqueue(string topic, byte[] payload, bool retain)
    {
        lock (_gate)
        {
            for (var node = _messages.First; node is not null && (_relays >= MaxRelays || _relayBytes + payload.Length > MaxRelayBytes);)
            {
                var next = node.Next;
                if (node.Value.RoundId is null)
                {
                    _messages.Remove(node);
                    Forget(node.Value);
                    Interlocked.Increment(ref _dropped);
                }

                node = next;
            }

            _messages.AddLast(new Queued(topic, payload, null, 0, retain));
            _relays++;
            _relayBytes += payload.Length;
        }
    }

    /// <summary>A partial of <paramref name="roundId"/> holding <paramref name="updates"/> updates.</summary>
    public void EnqueuePartial(string topic, byte[] payload, string roundId, int updates)
    {
        lock (_gate) _messages.AddLast(new Queued(topic, payload, roundId, updates, Retain: false));
    }

    public bool TryPeek(out Queued message)
    {
        lock (_gate)
        {
            message = _messages.First?.Value!;
            return message is not null;
        }
    }

    /// <summary>Removes a message that was sent (the first, unless it was dropped meanwhile).</summary>
    public void Remove(Queued message)
    {
        lock (_gate)
        {
            if (!_messages.Remove(message)) return;
            if (message.RoundId is null) Forget(message);
        }
    }

    /// <summary>A relay out of the queue (sent or dropped); under the lock.</summary>
    private void Forget(Queued relay)
    {
        _relays--;
        _relayBytes -= relay.Payload.Length;
    }

    /// <summary>A message and, for a partial, its round and how many updates it holds.</summary>
    internal sealed record Queued(string Topic, byte[] Payload, string? RoundId, int Updates, bool Retain);
}
