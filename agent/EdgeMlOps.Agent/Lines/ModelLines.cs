using System.Buffers;
using EdgeMlOps.Agent.Models;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Lines;

/// <summary>
/// The fleet's further models on this device: from the fleet's signed catalogue (verified with the first model's
/// trust, newer than the one held, kept on disk for the next start) it runs the lines whose cohort the device's tags
/// are in, in catalogue order, while their memory requests fit <see cref="AgentOptions.MemoryBudgetBytes"/> — each an
/// agent of its own (<see cref="DeviceAgent"/> with <see cref="AgentOptions.Line"/>: its own stores and models under
/// <c>DATA/lines/NAME</c>, its own trust, rollouts, rounds and monitoring) on the device's one connection. A line
/// taken out of the catalogue, or out of the device's cohort, stops; its data stays for when it comes back.
/// </summary>
public sealed class ModelLines : IAsyncDisposable
{
    private readonly DeviceAgent _fleet;
    private readonly AgentOptions _options;
    private readonly AgentDependencies _dependencies;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _changing = new(1, 1);
    private readonly Dictionary<string, (DeviceAgent Agent, AgentStores Stores)> _running = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly IFleetChannel _channel;
    private ModelCatalogue? _catalogue;
    private Signed? _pending;
    private Task _retry = Task.CompletedTask;
    private IReadOnlyList<LineState> _states = [];
    private int _disposed;
    private readonly bool _inMemoryStores;

    /// <param name="fleet">The first model's agent: its connection (shared) and trust (the catalogue's).</param>
    /// <param name="options">The device's options (each line's are these, for its line and directory).</param>
    /// <param name="dependencies">The first model's dependencies; each line opens stores of its own and shares the rest.</param>
    /// <param name="inMemoryStores">Each line's sample store and outbox in memory (the simulator's <c>--device-stores memory</c>).</param>
    public ModelLines(DeviceAgent fleet, AgentOptions options, AgentDependencies dependencies, bool inMemoryStores = false)
    {
        _inMemoryStores = inMemoryStores;
        _fleet = fleet;
        _options = options;
        _dependencies = dependencies;
        _logger = dependencies.LoggerFactory.CreateLogger<ModelLines>();
        var connection = fleet.Connection ?? throw new ArgumentException("the first model's agent owns the device's connection", nameof(fleet));
        _channel = connection.Views.Create(new FleetChannelOptions(options.DeviceId), dependencies.LoggerFactory);
        _channel.MessageReceived = OnMessageAsync;
    }

    /// <summary>Where the fleet's catalogue is retained (a catalogue message is rare: worked out when one comes).</summary>
    private string CatalogueTopic => new Topics(_options.Fleet).Catalogue;

    private string CataloguePath => Path.Combine(_options.DataDirectory, Topics.LinesSegment, "catalogue.pb");

    /// <summary>Every line of the catalogue held, and what this device does with it.</summary>
    public IReadOnlyList<LineState> States => Volatile.Read(ref _states);

    /// <summary>The running agent of line <paramref name="name"/>, or null.</summary>
    public DeviceAgent? this[string name]
    {
        get
        {
            lock (_running) return _running.TryGetValue(name, out var line) ? line.Agent : null;
        }
    }

    private long _refused;

    /// <summary>Catalogues refused (forged, another fleet's, older than the one held, unparsable).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Starts the lines of the catalogue kept from the last run, then listens for the fleet's.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(CataloguePath))
        {
            try
            {
                await OfferAsync(Signed.Parser.ParseFrom(await File.ReadAllBytesAsync(CataloguePath, cancellationToken).ConfigureAwait(false)), persist: false).ConfigureAwait(false);
            }
            catch (InvalidProtocolBufferException ex)
            {
                _logger.LogWarning("Model lines: the kept catalogue does not parse ({Reason}); waiting for the fleet's", ex.Message);
            }
        }

        await _channel.SubscribeAsync([CatalogueTopic], cancellationToken).ConfigureAwait(false);
        await _channel.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task OnMessageAsync(string topic, ReadOnlySequence<byte> payload)
    {
        if (topic != CatalogueTopic || _stopping.IsCancellationRequested) return;
        if (payload.Length > ProtocolInfo.MaxPayloadBytes)
        {
            Interlocked.Increment(ref _refused);
            _logger.LogWarning("Model lines: a catalogue of {Bytes} bytes was refused (over the protocol's limit)", payload.Length);
            return;
        }

        try
        {
            await OfferAsync(Signed.Parser.ParseFrom(payload), persist: true).ConfigureAwait(false);
        }
        catch (InvalidProtocolBufferException ex)
        {
            Interlocked.Increment(ref _refused);
            _logger.LogWarning("Model lines: a catalogue that does not parse was refused ({Reason})", ex.Message);
        }
    }

    /// <summary>Verifies a catalogue and, if it is newer than the one held, runs what it assigns to this device.</summary>
    private async Task OfferAsync(Signed envelope, bool persist)
    {
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Volatile.Read(ref _disposed) == 1) return; // the lines stopped while this waited
            if (!_fleet.Trust.HasBundle)
            {
                // The catalogue came before the fleet's trust bundle (retained messages of two topics): checked once it is here.
                _pending = envelope;
                if (_retry.IsCompleted) _retry = RetryAsync();
                return;
            }

            if (_fleet.Trust.CheckCatalogue(envelope, _dependencies.Time.GetUtcNow().ToUnixTimeMilliseconds()) is not { } catalogue)
            {
                Interlocked.Increment(ref _refused);
                _logger.LogWarning("Model lines: catalogue refused: {Reason}", _fleet.Trust.LastRejection);
                return;
            }

            if (_catalogue is { } held && catalogue.IssuedUnixMs <= held.IssuedUnixMs)
            {
                if (catalogue.IssuedUnixMs < held.IssuedUnixMs) Interlocked.Increment(ref _refused); // a replayed older catalogue
                return;
            }

            _catalogue = catalogue;
            if (persist) await KeepAsync(envelope).ConfigureAwait(false);

            await ApplyAsync(catalogue).ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>Keeps the catalogue for the next start; a disk that refuses it costs only that (the lines run from memory).</summary>
    private async Task KeepAsync(Signed envelope)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(CataloguePath)!);
            Runtime.Storage.AtomicFile.Write(CataloguePath, envelope.ToByteArray(), durable: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Model lines: the catalogue could not be kept for the next start ({Reason}); running from it now", ex.Message);
        }
    }

    /// <summary>Checks a catalogue that came before the trust bundle again, once a second, until one is held or the lines stop.</summary>
    private async Task RetryAsync()
    {
        try
        {
            while (!_fleet.Trust.HasBundle) await Task.Delay(TimeSpan.FromSeconds(1), _dependencies.Time, _stopping.Token).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _pending, null) is { } pending) await OfferAsync(pending, persist: true).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Starts the lines the catalogue assigns to this device and stops the others.</summary>
    private async Task ApplyAsync(ModelCatalogue catalogue)
    {
        var states = LineAssignment.Decide(catalogue, _options.Tags, _options.MemoryBudgetBytes);
        List<(DeviceAgent Agent, AgentStores Stores)> stopping;
        lock (_running)
        {
            stopping = [.. _running.Where(r => !states.Any(s => s.Name == r.Key && s.Runs)).Select(r => r.Value)];
            foreach (var gone in _running.Where(r => !states.Any(s => s.Name == r.Key && s.Runs)).Select(r => r.Key).ToList()) _running.Remove(gone);
        }

        foreach (var (agent, stores) in stopping)
        {
            _logger.LogInformation("Model line {Line}: stopped (no longer assigned to this device)", agent.Line);
            await agent.DisposeAsync().ConfigureAwait(false);
            stores.Dispose();
        }

        var applied = new List<LineState>();
        foreach (var state in states)
        {
            var result = state;
            if (state.Runs && this[state.Name] is null)
            {
                try
                {
                    await StartLineAsync(state.Name).ConfigureAwait(false);
                    _logger.LogInformation("Model line {Line}: started ({Request} MiB of the {Budget} MiB budget)", state.Name, state.MemoryRequestBytes >> 20, _options.MemoryBudgetBytes >> 20);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // One line that cannot start (its stores, a full disk) costs that line, not the others or the device.
                    result = state with { Runs = false, Notice = $"cannot start: {ex.Message}" };
                    _logger.LogError("Model line {Line}: {Notice}", state.Name, result.Notice);
                }
            }
            else if (!state.Runs)
            {
                _logger.LogInformation("Model line {Line}: not run here: {Notice}", state.Name, state.Notice);
            }

            applied.Add(result);
        }

        Volatile.Write(ref _states, applied);
    }

    private async Task StartLineAsync(string name)
    {
        var options = _options with
        {
            Line = name,
            DataDirectory = Path.Combine(_options.DataDirectory, Topics.LinesSegment, name),
            HttpAddress = null,
            Input = null,
        };
        var stores = AgentStores.Open(options, _inMemoryStores, _dependencies.Time.GetUtcNow());
        try
        {
            var agent = new DeviceAgent(options, new AgentDependencies
            {
                Store = stores.Samples,
                Outbox = stores.Outbox,
                Models = new ModelStore(Path.Combine(options.DataDirectory, "models")),
                Http = _dependencies.Http,
                Runtimes = _dependencies.Runtimes,
                Time = _dependencies.Time,
                LoggerFactory = _dependencies.LoggerFactory,
                Channels = _fleet.Connection!.Views,
                ComputeSlots = _dependencies.ComputeSlots,
                StorageNotices = stores.Notices,
            });
            lock (_running) _running[name] = (agent, stores);
            await agent.StartAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch
        {
            lock (_running) _running.Remove(name);
            stores.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _retry.ConfigureAwait(false);
        await _changing.WaitAsync().ConfigureAwait(false);
        try
        {
            List<(DeviceAgent Agent, AgentStores Stores)> running;
            lock (_running)
            {
                running = [.. _running.Values];
                _running.Clear();
            }

            foreach (var (agent, stores) in running)
            {
                await agent.DisposeAsync().ConfigureAwait(false);
                stores.Dispose();
            }

            await _channel.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _changing.Release(); // a catalogue arriving meanwhile finds the lines stopped, and returns
        }
    }
}
