using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>How an in-memory hub hands messages to subscribers.</summary>
public enum InMemoryDelivery
{
    /// <summary>Each connection has its own queue and pump, like a socket: per-subscriber order, publishers do not wait for handlers.</summary>
    Queued,

    /// <summary>A publish returns after every subscriber's handler ran, in subscription order: one deterministic total order.</summary>
    Inline,
}

/// <summary>
/// A broker in memory with the MQTT 5 behaviour the fleet relies on: topic filters with wildcards,
/// retained messages (an empty payload clears one), the Last Will on a lost connection, session
/// takeover by client id, and persistent sessions that queue QoS 1 messages while their client is
/// away (bounded; overflow is counted in <see cref="Dropped"/>) until the session expires, and MQTT 5 shared
/// subscriptions (<c>$share/{group}/{filter}</c>: each message to one member of the group, in turn). It is
/// the simulator's transport for fleets too large for sockets; the agents and aggregator above it
/// are the shipped ones. Exact-topic subscriptions are indexed, so a publish to one device costs
/// the same with 100 or 100,000 devices connected.
/// </summary>
public sealed class InMemoryFleetHub : IFleetChannelFactory
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Session>> _exact = new(StringComparer.Ordinal);
    private readonly List<(string Filter, Session Session)> _wildcards = new();
    private readonly Dictionary<(string Group, string Filter), SharedGroup> _shared = new();
    private readonly Dictionary<string, byte[]> _retained = new(StringComparer.Ordinal);
    private long _dropped;

    public InMemoryFleetHub(TimeProvider? time = null, InMemoryDelivery delivery = InMemoryDelivery.Queued, int maxQueuedPerSession = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueuedPerSession, 1);
        Time = time ?? TimeProvider.System;
        Delivery = delivery;
        MaxQueuedPerSession = maxQueuedPerSession;
    }

    public TimeProvider Time { get; }

    public InMemoryDelivery Delivery { get; }

    public int MaxQueuedPerSession { get; }

    public string Address => "memory";

    /// <summary>Messages lost because an offline session's queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) =>
        new InMemoryFleetChannel(this, options, loggers.CreateLogger<InMemoryFleetChannel>());

    /// <summary>Attaches a connection; returns whether a session was resumed and the messages queued for it while it was away.</summary>
    internal (bool SessionPresent, List<Message> Pending) Connect(InMemoryFleetChannel channel, FleetChannelOptions options)
    {
        InMemoryFleetChannel? displaced = null;
        LastWill? displacedWill = null;
        (bool, List<Message>) result;
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            if (_sessions.TryGetValue(options.ClientId, out var session))
            {
                if (session.Connection is { } old)
                {
                    // Session takeover (MQTT 5, 3.1.4): the old connection is closed and its will published.
                    (displaced, displacedWill) = (old, session.Will);
                    session.Connection = null;
                }

                if (options.CleanStart || session.IsExpired(now)) RemoveSession(session);
            }

            var present = _sessions.TryGetValue(options.ClientId, out session);
            if (!present)
            {
                session = new Session(options.ClientId);
                _sessions[options.ClientId] = session;
            }

            session!.Connection = channel;
            session.Will = options.Will;
            session.ExpirySeconds = options.SessionExpirySeconds;
            session.DisconnectedAt = null;
            var pending = session.Pending.ToList();
            session.Pending.Clear();
            result = (present, pending);
        }

        if (displaced is not null)
        {
            displaced.Close();
            if (displacedWill is not null) _ = PublishAsync(displacedWill.Topic, displacedWill.Payload, displacedWill.Retain);
        }

        return result;
    }

    /// <summary>Adds filters to the channel's session; returns the retained messages they match.</summary>
    internal List<Message> Subscribe(InMemoryFleetChannel channel, IReadOnlyList<string> filters)
    {
        var retained = new List<Message>();
        lock (_gate)
        {
            if (!_sessions.TryGetValue(channel.ClientId, out var session) || session.Connection != channel) throw new InvalidOperationException("not connected");
            foreach (var filter in filters)
            {
                if (!session.Filters.Add(filter)) continue;
                if (TopicFilter.TryParseShared(filter, out var group, out var inner))
                {
                    // No retained messages for a shared subscription (MQTT 5, 4.8.2).
                    if (!_shared.TryGetValue((group, inner), out var members)) _shared[(group, inner)] = members = new SharedGroup();
                    members.Sessions.Add(session);
                }
                else if (TopicFilter.IsExact(filter))
                {
                    if (!_exact.TryGetValue(filter, out var list)) _exact[filter] = list = new List<Session>(1);
                    list.Add(session);
                    if (_retained.TryGetValue(filter, out var payload)) retained.Add(new Message(filter, payload));
                }
                else
                {
                    _wildcards.Add((filter, session));
                    foreach (var (topic, payload) in _retained)
                    {
                        if (TopicFilter.Matches(filter, topic)) retained.Add(new Message(topic, payload));
                    }
                }
            }
        }

        return retained;
    }

    /// <summary>Removes filters from a session (connected or not), as an MQTT UNSUBSCRIBE does.</summary>
    internal void Unsubscribe(string clientId, IReadOnlyList<string> filters)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(clientId, out var session)) return;
            foreach (var filter in filters)
            {
                if (!session.Filters.Remove(filter)) continue;
                if (TopicFilter.TryParseShared(filter, out var group, out var inner))
                {
                    if (_shared.TryGetValue((group, inner), out var members)) members.Sessions.Remove(session);
                }
                else if (_exact.TryGetValue(filter, out var list))
                {
                    list.Remove(session);
                    if (list.Count == 0) _exact.Remove(filter);
                }
                else
                {
                    _wildcards.RemoveAll(w => w.Session == session && w.Filter == filter);
                }
            }
        }
    }

    /// <summary>Routes a publish; in <see cref="InMemoryDelivery.Inline"/> mode returns once every subscriber handled it. False when no session matched.</summary>
    internal async Task<bool> PublishAsync(string topic, byte[] payload, bool retain)
    {
        var (targets, matched) = Route(topic, payload, retain);
        foreach (var (channel, message) in targets) await channel.HandleAsync(message).ConfigureAwait(false);
        return matched > 0;
    }

    /// <summary>Stores a retained message and routes a publish to every matching session: connected ones get it now, away ones queue it.</summary>
    private (List<(InMemoryFleetChannel Channel, Message Message)> Targets, int Matched) Route(string topic, byte[] payload, bool retain)
    {
        var targets = new List<(InMemoryFleetChannel, Message)>();
        var message = new Message(topic, payload);
        int matched;
        lock (_gate)
        {
            if (retain)
            {
                if (payload.Length == 0) _retained.Remove(topic);
                else _retained[topic] = payload;
            }

            var now = Time.GetUtcNow();
            var seen = new HashSet<Session>();
            if (_exact.TryGetValue(topic, out var exact))
            {
                foreach (var session in exact.ToArray()) Deliver(session, message, now, seen, targets);
            }

            foreach (var (filter, session) in _wildcards.ToArray())
            {
                if (TopicFilter.Matches(filter, topic)) Deliver(session, message, now, seen, targets);
            }

            foreach (var ((_, filter), group) in _shared)
            {
                if (TopicFilter.Matches(filter, topic) && group.Next(now) is { } member)
                {
                    if (member.Connection is { } connection) targets.Add((connection, message));
                    else Queue(member, message);
                    seen.Add(member);
                }
            }

            matched = seen.Count(session => session.Connection is not null || !session.IsExpired(now));
        }

        if (Delivery == InMemoryDelivery.Queued)
        {
            foreach (var (channel, m) in targets) channel.Enqueue(m);
            targets.Clear();
        }

        return (targets, matched);
    }

    /// <summary>Detaches a connection: a normal disconnect discards the will, a lost one publishes it. A persistent session stays, with <paramref name="undelivered"/> queued again.</summary>
    internal void Disconnect(InMemoryFleetChannel channel, bool publishWill, IReadOnlyList<Message> undelivered)
    {
        LastWill? will = null;
        lock (_gate)
        {
            if (!_sessions.TryGetValue(channel.ClientId, out var session) || session.Connection != channel) return;
            session.Connection = null;
            session.DisconnectedAt = Time.GetUtcNow();
            if (publishWill) will = session.Will;
            if (session.ExpirySeconds == 0)
            {
                RemoveSession(session);
            }
            else
            {
                foreach (var m in undelivered) Queue(session, m);
            }
        }

        if (will is not null) _ = PublishAsync(will.Topic, will.Payload, will.Retain);
    }

    private void Deliver(Session session, Message message, DateTimeOffset now, HashSet<Session> seen, List<(InMemoryFleetChannel, Message)> targets)
    {
        if (!seen.Add(session)) return; // overlapping filters deliver once
        if (session.Connection is { } connection)
        {
            targets.Add((connection, message));
        }
        else if (session.IsExpired(now))
        {
            RemoveSession(session);
        }
        else
        {
            Queue(session, message);
        }
    }

    private void Queue(Session session, Message message)
    {
        if (session.Pending.Count >= MaxQueuedPerSession)
        {
            session.Pending.Dequeue();
            Interlocked.Increment(ref _dropped);
        }

        session.Pending.Enqueue(message);
    }

    private void RemoveSession(Session session)
    {
        _sessions.Remove(session.ClientId);
        foreach (var filter in session.Filters)
        {
            if (_exact.TryGetValue(filter, out var list))
            {
                list.Remove(session);
                if (list.Count == 0) _exact.Remove(filter);
            }
        }

        _wildcards.RemoveAll(w => w.Session == session);
        foreach (var group in _shared.Values) group.Sessions.Remove(session);
    }

    /// <summary>The members of one shared subscription and whose turn it is.</summary>
    private sealed class SharedGroup
    {
        private int _turn;

        public List<Session> Sessions { get; } = new();

        /// <summary>The next connected member in turn; with none connected, the next whose session still lives (it queues the message).</summary>
        public Session? Next(DateTimeOffset now)
        {
            var live = Sessions.Where(s => s.Connection is not null).ToList();
            if (live.Count == 0) live = Sessions.Where(s => !s.IsExpired(now)).ToList();
            if (live.Count == 0) return null;
            return live[_turn++ % live.Count];
        }
    }

    internal readonly record struct Message(string Topic, byte[] Payload);

    private sealed class Session(string clientId)
    {
        public string ClientId { get; } = clientId;

        public HashSet<string> Filters { get; } = new(StringComparer.Ordinal);

        public Queue<Message> Pending { get; } = new();

        public InMemoryFleetChannel? Connection { get; set; }

        public LastWill? Will { get; set; }

        public uint ExpirySeconds { get; set; }

        public DateTimeOffset? DisconnectedAt { get; set; }

        public bool IsExpired(DateTimeOffset now) =>
            Connection is null && DisconnectedAt is { } at && now - at >= TimeSpan.FromSeconds(ExpirySeconds);
    }
}
