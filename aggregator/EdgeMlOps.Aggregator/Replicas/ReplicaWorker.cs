using System.Buffers;
using System.Collections.Concurrent;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// A replica that is not the coordinator: it joins the shared subscription on device updates, checks each update as
/// the aggregator's inbox does (envelope, first delivery, the round it names, the round's own checks), claims the
/// device's one contribution in the shared store, folds the update into its share of the round, and writes the share
/// to the store every <see cref="ReplicaOptions.FlushInterval"/> while the round is open. It opens no round, sends no
/// task and publishes nothing: the coordinator does, and combines the shares.
/// </summary>
public sealed class ReplicaWorker : IAsyncDisposable
{
    private readonly AggregatorOptions _options;
    private readonly IFleetChannelFactory _channels;
    private readonly StoreDatabases _databases;
    private readonly RoundShares _shares;
    private readonly SeenMessages _seen;
    private readonly FederatedStrategy _strategy;
    private readonly ParameterLayout _layout;
    private readonly Topics _topics;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, ReplicaRound> _rounds = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private IFleetChannel? _channel;
    private Task _writing = Task.CompletedTask;
    private long _accepted;
    private bool _aborted;
    private int _disposed;

    /// <summary>A replica of <paramref name="options"/>' fleet (named by <see cref="ReplicaOptions.Name"/>), reading the coordinator's store, on <paramref name="channels"/>.</summary>
    public ReplicaWorker(AggregatorOptions options, IFleetChannelFactory channels, TimeProvider time, ILoggerFactory loggers)
    {
        if (!options.Replicas.Enabled) throw new ArgumentException("Aggregator:Replicas:Name is not set", nameof(options));
        options.Validate();
        (_options, _channels, _time, _loggers) = (options, channels, time, loggers);
        _databases = new StoreDatabases(options.Store, options.DataDirectory, time);
        try
        {
            _shares = new RoundShares(_databases.Open("registry.db", durable: true));
            _seen = new SeenMessages(_databases.Open("messages.db", durable: false), time);
        }
        catch
        {
            _shares?.Dispose();
            _databases.Dispose();
            throw;
        }

        _strategy = StandardStrategy.Create(options.Strategy);
        _layout = ParameterLayout.For(options.Model);
        _topics = new Topics(options.Fleet);
        _logger = loggers.CreateLogger<ReplicaWorker>();
    }

    public string Name => _options.Replicas.Name!;

    /// <summary>Updates this replica took (folded into a share).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Updates this replica refused, by reason.</summary>
    public RejectionCounters Rejections { get; } = new();

    /// <summary>Connects with a clean session (a replica that dies leaves no queue behind: the broker sends its share of updates to the others) and starts writing shares.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _channel = _channels.Create(new FleetChannelOptions(_options.Replicas.Identity) { CleanStart = true, SessionExpirySeconds = 0 }, _loggers);
        _channel.MessageReceived = OnMessageAsync;
        var filter = ReplicaOptions.Shared(_topics.AllDevices("update"));
        await _channel.SubscribeAsync([filter], cancellationToken).ConfigureAwait(false);
        await _channel.ConnectAsync(cancellationToken).ConfigureAwait(false);
        _writing = Task.Run(() => WriteSharesAsync(_stopping.Token), CancellationToken.None);
        _logger.LogReplicaStarted(Name, filter);
    }

    /// <summary>One message from the shared subscription; never throws into the receive loop.</summary>
    public Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (Volatile.Read(ref _aborted)) return Task.CompletedTask;
        if (!_topics.TryParseDeviceTopic(topic, out var deviceId, out var kind) || kind != "update") return Task.CompletedTask;
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Reject(deviceId, new OfferOutcome(false, RejectionReason.Oversized, $"{payload.Length} bytes on update"));
            return Task.CompletedTask;
        }

        try
        {
            var update = ModelUpdate.Parser.ParseFrom(payload);
            var outcome = UpdateEnvelope.Check(deviceId, update, _seen);
            if (outcome.Accepted) outcome = Offer(deviceId, update);
            if (outcome.Accepted) Interlocked.Increment(ref _accepted);
            else Reject(deviceId, outcome);
        }
        catch (InvalidProtocolBufferException ex)
        {
            Reject(deviceId, new OfferOutcome(false, RejectionReason.Malformed, ex.Message));
        }
        catch (System.Data.Common.DbException ex)
        {
            Reject(deviceId, new OfferOutcome(false, RejectionReason.StoreUnavailable, ex.Message));
        }

        return Task.CompletedTask;
    }

    /// <summary>Writes the share of every round with updates not yet written; forgets rounds the coordinator closed.</summary>
    public void WriteShares()
    {
        foreach (var (roundId, round) in _rounds)
        {
            var taken = round.Accumulator.AcceptedCount;
            if (taken == round.Written)
            {
                if (_time.GetUtcNow() > round.Deadline + TimeSpan.FromMinutes(1)) _rounds.TryRemove(roundId, out _);
                continue;
            }

            try
            {
                if (_shares.TryWrite(round.Accumulator.Share(Name)))
                {
                    round.Written = taken;
                }
                else
                {
                    _rounds.TryRemove(roundId, out _);
                    _logger.LogShareClosed(Name, roundId, taken - round.Written);
                }
            }
            catch (System.Data.Common.DbException ex)
            {
                _logger.LogShareStoreFailed(Name, roundId, ex.Message);
            }
        }
    }

    /// <summary>
    /// Drops the broker connection without a goodbye and stops writing shares, without a last write: what a killed
    /// replica leaves behind (for fault tests, as <see cref="IFleetChannel.Abort"/> is for a connection).
    /// </summary>
    public void Abort()
    {
        Volatile.Write(ref _aborted, true);
        _stopping.Cancel();
        _channel?.Abort();
    }

    /// <summary>Stops taking updates, writes what it holds (a clean stop loses nothing), and disconnects.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (_channel is not null) await _channel.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _writing.ConfigureAwait(false);
        if (!Volatile.Read(ref _aborted)) WriteShares();
        _stopping.Dispose();
        _seen.Dispose();
        _shares.Dispose();
        _databases.Dispose();
    }

    private OfferOutcome Offer(string deviceId, ModelUpdate update)
    {
        if (RoundFor(update.RoundId) is not { } round) return new OfferOutcome(false, RejectionReason.UnknownRound, $"round '{update.RoundId}' is not open");
        var offered = round.Accumulator.Offer(deviceId, update);
        return offered.Accepted ? OfferOutcome.Taken : new OfferOutcome(false, offered.Reason, offered.Detail);
    }

    /// <summary>The open round an update names, as the coordinator wrote it to the store; null when there is none (or it is for another model).</summary>
    private ReplicaRound? RoundFor(string roundId)
    {
        if (_rounds.TryGetValue(roundId, out var known)) return known;
        if (_shares.FindOpen(roundId) is not { } shared || shared.Model != _options.ModelName) return null;
        var accumulator = new RoundAccumulator(roundId, shared.Model, shared.BaseVersion, _layout, shared.Selected, _strategy, shared.Context)
        {
            Claim = deviceId => _shares.Claim(roundId, deviceId, Guid.NewGuid().ToString("N")),
        };
        return _rounds.GetOrAdd(roundId, _ => new ReplicaRound(accumulator, shared.Deadline));
    }

    private async Task WriteSharesAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.Replicas.FlushInterval, _time, cancellationToken).ConfigureAwait(false);
                WriteShares();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Reject(string deviceId, OfferOutcome outcome)
    {
        Rejections.Add(outcome.Reason);
        _logger.LogReplicaRejected(Name, deviceId, outcome.Reason, outcome.Detail);
    }

    /// <summary>A round this replica takes updates for, and how many of them its last written share held.</summary>
    private sealed class ReplicaRound(RoundAccumulator accumulator, DateTimeOffset deadline)
    {
        public RoundAccumulator Accumulator { get; } = accumulator;

        public DateTimeOffset Deadline { get; } = deadline;

        public int Written { get; set; }
    }
}
