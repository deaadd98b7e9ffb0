using System.Buffers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Security;
using MQTTnet.Protocol;
using MQTTnet;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>
/// One MQTT 5 connection (MQTTnet) with the behaviour both the agent and the aggregator need:
/// persistent session, Last Will, QoS 1, subscriptions restored and reconnection with
/// exponential backoff and full jitter after a lost connection, and byte counters.
/// </summary>
public sealed partial class MqttTransport : IFleetChannel
{
    private readonly MqttTransportOptions _options;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly List<string> _subscriptions = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Random _jitter;
    private int _reconnecting;
    private long _bytesSent;
    private long _bytesReceived;

    public MqttTransport(MqttTransportOptions options, ILogger? logger = null)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _jitter = new Random(options.ClientId.GetHashCode(StringComparison.Ordinal));
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += OnDisconnectedAsync;
    }

    /// <summary>Called for every received publish, in arrival order for this connection.</summary>
    public Func<string, ReadOnlySequence<byte>, Task>? MessageReceived { get; set; }

    /// <summary>Called after every successful (re)connection, once subscriptions are restored.</summary>
    public Func<bool, Task>? Connected { get; set; }

    // MQTTnet's client still says connected after it was disposed under an open socket (Abort).
    public bool IsConnected => !_stopping.IsCancellationRequested && _client.IsConnected;

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public string ClientId => _options.ClientId;

    public async Task ConnectAsync(CancellationToken cancellationToken)
    {
        var builder = new MqttClientOptionsBuilder()
            .WithClientId(_options.ClientId)
            .WithTcpServer(_options.Endpoint.Host, _options.Endpoint.Port)
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(_options.CleanStart)
            .WithSessionExpiryInterval(_options.SessionExpirySeconds)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout);
        builder = WithSecurity(builder);
        if (_options.Will is { } will)
        {
            builder = builder.WithWillTopic(will.Topic).WithWillPayload(will.Payload).WithWillRetain(will.Retain)
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // The whole attempt — TCP, TLS handshake, CONNECT and its acknowledgement — within ConnectTimeout; past it, one
        // failed attempt to StartAsync and the reconnect loop, and the next one follows.
        var result = await BrokerWait.WithinAsync(
            t => _client.ConnectAsync(builder.Build(), t), _options.ConnectTimeout,
            () => $"Broker {_options.Endpoint} did not answer {_options.ClientId}'s connection", cancellationToken).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            var refusal = $"Broker {_options.Endpoint} refused {_options.ClientId}: {result.ResultCode} {result.ReasonString}";
            throw result.ResultCode is MqttClientConnectResultCode.ServerUnavailable or MqttClientConnectResultCode.ServerBusy
                ? new InvalidOperationException(refusal) // for now: a broker starting or shedding load may take it later
                : new BrokerRefusedException(refusal);
        }

        string[] filters;
        lock (_subscriptions) filters = _subscriptions.ToArray();
        try
        {
            if (filters.Length > 0) await SubscribeCoreAsync(filters, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Connected without its subscriptions is no connection: the attempt failed, and the next one subscribes again.
            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptions { Reason = MqttClientDisconnectOptionsReason.UnspecifiedError }, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.ConnectionLost(_logger, _options.ClientId, "closing after an unacknowledged subscription: " + ex.Message);
            }

            throw;
        }

        if (Connected is { } connected) await connected(result.IsSessionPresent).ConfigureAwait(false);
    }

    private MqttClientOptionsBuilder WithSecurity(MqttClientOptionsBuilder builder)
    {
        if (_options.Tls?.Credentials is { } credentials) builder = builder.WithCredentials(credentials.User, credentials.Password);
        if (!_options.Endpoint.Tls) return builder;
        var tls = _options.Tls ?? throw new InvalidOperationException($"{_options.Endpoint} is a TLS endpoint and {_options.ClientId} has no TLS settings (fleet CA and client certificate).");
        var certificate = tls.ClientCertificate(_options.ClientId) ?? throw new InvalidOperationException($"{_options.ClientId} has no client certificate yet (not enrolled).");
        return builder.WithTlsOptions(t => t
            .UseTls()
            .WithTargetHost(tls.TargetHost ?? _options.Endpoint.Host)
            .WithClientCertificates([certificate])
            .WithCertificateValidationHandler(e => IsTrustedBroker(e, tls.TrustAnchor)));
    }

    // The broker must hold a certificate from the pinned fleet CA for the host we asked for; the system store is not consulted.
    private bool IsTrustedBroker(MqttClientCertificateValidationEventArgs e, X509Certificate2 anchor)
    {
        if ((e.SslPolicyErrors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            Log.BrokerCertificateRefused(_logger, _options.ClientId, e.SslPolicyErrors.ToString());
            return false;
        }

        if (CertificateChain.IsIssuedBy(e.Certificate, anchor, DateTimeOffset.UtcNow, out var error)) return true;
        Log.BrokerCertificateRefused(_logger, _options.ClientId, error);
        return false;
    }

    /// <summary>
    /// Connects if the broker is reachable; otherwise keeps trying in the background (backoff with
    /// jitter) and returns at once, so an offline device still starts and serves.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ConnectAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            Log.ConnectionLost(_logger, _options.ClientId, "broker unreachable at start: " + ex.Message);
            if (Interlocked.Exchange(ref _reconnecting, 1) == 0) _ = Task.Run(ReconnectLoopAsync, CancellationToken.None);
        }
    }

    private int _disposed;

    private TimeSpan AcknowledgeDeadline(int bytes) => _options.AcknowledgeTimeout + TimeSpan.FromSeconds(bytes / 1024.0);

    public async Task UnsubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        lock (_subscriptions) _subscriptions.RemoveAll(filters.Contains);
        if (!_client.IsConnected || filters.Count == 0) return;
        var builder = new MqttClientUnsubscribeOptionsBuilder();
        foreach (var filter in filters) builder.WithTopicFilter(filter);
        // "No subscription existed" is fine; an UNSUBACK that never comes fails the call like a SUBACK.
        await BrokerWait.WithinAsync(
            t => _client.UnsubscribeAsync(builder.Build(), t), _options.AcknowledgeTimeout,
            () => $"Broker {_options.Endpoint} did not acknowledge {_options.ClientId}'s unsubscription from {string.Join(", ", filters)}", cancellationToken).ConfigureAwait(false);
    }

    public async Task SubscribeAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        lock (_subscriptions) _subscriptions.AddRange(filters.Except(_subscriptions));
        if (_client.IsConnected) await SubscribeCoreAsync(filters, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Publishes at QoS 1 and waits for the broker's acknowledgement. Cancelled while waiting, it throws
    /// <see cref="OperationCanceledException"/> (MQTTnet reports a cancelled wait for the acknowledgement as a timeout,
    /// which callers would take for a broken connection).
    /// </summary>
    public async Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
    {
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithRetainFlag(retain)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        // A broker that keeps the connection and never acknowledges fails the publish (the outbox keeps the message).
        var result = await BrokerWait.WithinAsync(
            t => _client.PublishAsync(message, t), AcknowledgeDeadline(payload.Length),
            () => $"Broker {_options.Endpoint} did not acknowledge {_options.ClientId}'s publish to {topic} ({payload.Length} bytes)", cancellationToken).ConfigureAwait(false);

        Interlocked.Add(ref _bytesSent, payload.Length);
        if (result.ReasonCode == MqttClientPublishReasonCode.NoMatchingSubscribers) return false;
        if (!result.IsSuccess)
        {
            throw new BrokerRefusedException($"Publish to {topic} failed: {result.ReasonCode} {result.ReasonString}");
        }

        return true;
    }

    public async Task DisconnectAsync()
    {
        _stopping.Cancel();
        if (_client.IsConnected)
        {
            try
            {
                // Normal disconnection: the broker discards the Last Will.
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.DisconnectFailed(_logger, _options.ClientId, ex.Message);
            }
        }
    }

    /// <summary>Drops the connection without a DISCONNECT packet, so the broker publishes the Last Will (for fault tests).</summary>
    public void Abort()
    {
        _stopping.Cancel();
        _client.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return; // disposing twice is allowed (IAsyncDisposable)
        await DisconnectAsync().ConfigureAwait(false);
        _client.Dispose();
        _stopping.Dispose();
    }

    private async Task SubscribeCoreAsync(IReadOnlyList<string> filters, CancellationToken cancellationToken)
    {
        var builder = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in filters)
        {
            builder.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce, noLocal: false, retainAsPublished: false, MqttRetainHandling.SendAtSubscribe);
        }

        // Bounded like a publish: a SUBACK that never comes fails the subscription.
        var result = await BrokerWait.WithinAsync(
            t => _client.SubscribeAsync(builder.Build(), t), _options.AcknowledgeTimeout,
            () => $"Broker {_options.Endpoint} did not acknowledge {_options.ClientId}'s subscription to {string.Join(", ", filters)}", cancellationToken).ConfigureAwait(false);

        // Fail closed: a subscription the broker refused (its ACL, or a shared subscription it does not support) is an error, not silence.
        var refused = result.Items.Where(i => i.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2).ToList();
        if (refused.Count == 0) return;
        // Not asked again at the next reconnection: a refused filter would otherwise fail every one of them.
        lock (_subscriptions) _subscriptions.RemoveAll(f => refused.Any(i => i.TopicFilter.Topic == f));
        throw new BrokerRefusedException($"Broker {_options.Endpoint} refused {_options.ClientId}'s subscription to {string.Join(", ", refused.Select(i => $"{i.TopicFilter.Topic} ({i.ResultCode})"))}");
    }

    private async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var payload = e.ApplicationMessage.Payload;
        Interlocked.Add(ref _bytesReceived, payload.Length);
        if (MessageReceived is not { } handler) return;
        try
        {
            await handler(e.ApplicationMessage.Topic, payload).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A handler bug must not kill the connection's receive loop.
            Log.HandlerFailed(_logger, _options.ClientId, e.ApplicationMessage.Topic, ex);
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        if (_stopping.IsCancellationRequested || !e.ClientWasConnected || Interlocked.Exchange(ref _reconnecting, 1) == 1)
        {
            return Task.CompletedTask;
        }

        Log.ConnectionLost(_logger, _options.ClientId, e.Reason.ToString());
        _ = Task.Run(ReconnectLoopAsync);
        return Task.CompletedTask;
    }

    private async Task ReconnectLoopAsync()
    {
        try
        {
            var delay = _options.MinReconnectDelay;
            for (var attempt = 1; !_stopping.IsCancellationRequested; attempt++)
            {
                double jitter;
                lock (_jitter) jitter = _jitter.NextDouble();
                await Task.Delay(TimeSpan.FromTicks((long)(delay.Ticks * jitter)), _stopping.Token).ConfigureAwait(false);
                try
                {
                    await ConnectAsync(_stopping.Token).ConfigureAwait(false);
                    Log.Reconnected(_logger, _options.ClientId, attempt);
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.ReconnectFailed(_logger, _options.ClientId, attempt, ex.Message);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Interlocked.Exchange(ref _reconnecting, 0);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "MQTT client {ClientId} lost its connection: {Reason}")]
        public static partial void ConnectionLost(ILogger logger, string clientId, string reason);

        [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "MQTT client {ClientId} reconnected after {Attempts} attempt(s)")]
        public static partial void Reconnected(ILogger logger, string clientId, int attempts);

        [LoggerMessage(EventId = 102, Level = LogLevel.Debug, Message = "MQTT client {ClientId} reconnect attempt {Attempt} failed: {Error}")]
        public static partial void ReconnectFailed(ILogger logger, string clientId, int attempt, string error);

        [LoggerMessage(EventId = 103, Level = LogLevel.Error, Message = "MQTT client {ClientId}: handler for {Topic} failed")]
        public static partial void HandlerFailed(ILogger logger, string clientId, string topic, Exception exception);

        [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "MQTT client {ClientId} refused the broker's certificate: {Reason}")]
        public static partial void BrokerCertificateRefused(ILogger logger, string clientId, string reason);

        [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "MQTT client {ClientId}: disconnect failed: {Error}")]
        public static partial void DisconnectFailed(ILogger logger, string clientId, string error);
    }
}
