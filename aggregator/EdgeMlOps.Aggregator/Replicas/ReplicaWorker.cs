using System.Buffers;
using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// A replica that is not the coordinator: it joins the shared subscription on device updates, checks each update as
/// the aggregator's inbox does (envelope, first delivery, the round it names, the round's own checks), claims the
/// device's one contribution in the shared store, folds the update into its share of the round, and writes the share
/// to the store every <see cref="ReplicaOptions.FlushInterval"/> while the round is open, and, while connected, that it
/// is (<see cref="ReplicaWatch"/>). It opens no round, sends no task and publishes nothing: the coordinator does, and
/// combines the shares.
/// </summary>
public sealed class ReplicaWorker : IAsyncDisposable
{
    private readonly AggregatorOptions _options;
    private readonly StoreDatabases _databases;
    private readonly SeenMessages _seen;
    private readonly ReplicaRounds _rounds;
    private readonly IFleetChannel _channel;
    private readonly Topics _topics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _writing = Task.CompletedTask;
    private long _accepted;
    private bool _aborted;
    private int _disposed;

    /// <summary>A replica of <paramref name="options"/>' fleet (named by <see cref="ReplicaOptions.Name"/>), reading the coordinator's store, on <paramref name="channels"/>.</summary>
    public ReplicaWorker(AggregatorOptions options, IFleetChannelFactory channels, TimeProvider time, ILoggerFactory loggers)
    {
        if (!options.Replicas.Enabled) throw new ArgumentException("Aggregator:Replicas:Name is not set", nameof(options));
        options.Validate();
        (_options, _time) = (options, time);
        _logger = loggers.CreateLogger<ReplicaWorker>();
        _topics = new Topics(options.Fleet, options.Replicas.Line);
        _databases = new StoreDatabases(options.Store, options.DataDirectory, time);
        RoundShares? shares = null;
        try
        {
            shares = new RoundShares(_databases.Open("registry.db", durable: true));
            _seen = new SeenMessages(_databases.Open("messages.db", durable: false), time);
        }
        catch
        {
            shares?.Dispose();
            _databases.Dispose();
            throw;
        }

        _rounds = new ReplicaRounds(options, shares, time, _logger);

        // A clean session that ends with the connection: a replica that dies leaves no queue behind, the broker sends its share of updates to the others.
        _channel = channels.Create(new FleetChannelOptions(options.Replicas.Identity) { CleanStart = true, SessionExpirySeconds = 0 }, loggers);
        _channel.MessageReceived = OnMessageAsync;
    }

    public string Name => _options.Replicas.Name!;

    /// <summary>The model line whose updates it takes (null: the fleet's first model's).</summary>
    public string? Line => _options.Replicas.Line;

    /// <summary>Updates this replica took (folded into a share).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Updates this replica refused, by reason.</summary>
    public RejectionCounters Rejections { get; } = new();

    /// <summary>Joins the shared subscription on device updates and starts writing shares.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
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
            if (outcome.Accepted) outcome = _rounds.Offer(deviceId, update);
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

    /// <summary>
    /// Drops the broker connection without a goodbye and stops writing shares, without a last write: what a killed
    /// replica leaves behind (for fault tests, as <see cref="IFleetChannel.Abort"/> is for a connection).
    /// </summary>
    public void Abort()
    {
        Volatile.Write(ref _aborted, true);
        _stopping.Cancel();
        _channel.Abort();
    }

    /// <summary>Stops taking updates, writes what it holds (a clean stop loses nothing), and disconnects.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _channel.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _writing.ConfigureAwait(false);
        if (!Volatile.Read(ref _aborted)) _rounds.WriteShares();
        _stopping.Dispose();
        _seen.Dispose();
        _rounds.Dispose();
        _databases.Dispose();
    }

    private async Task WriteSharesAsync(CancellationToken cancellationToken)
    {
        try
        {
            var lastPresent = DateTimeOffset.MinValue;
            while (true)
            {
                await Task.Delay(_options.Replicas.FlushInterval, _time, cancellationToken).ConfigureAwait(false);
                _rounds.WriteShares();
                if (_channel.IsConnected && _time.GetUtcNow() - lastPresent >= ReplicaWatch.PresenceInterval)
                {
                    _rounds.Present();
                    lastPresent = _time.GetUtcNow();
                }
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
}
