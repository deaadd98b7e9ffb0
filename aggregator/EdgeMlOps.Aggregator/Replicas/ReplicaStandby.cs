using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// What a replica that is not the coordinator runs: a <see cref="ReplicaWorker"/> for the fleet's first model and one
/// for each model line whose updates are shared (<see cref="ModelLineOptions"/> with replicas on), each on a connection
/// of its own under its own certificate name (<see cref="ReplicaOptions.Identity"/>), so a broker that takes the name as
/// the client id keeps every session apart. Lines an operator adds or removes at run time are followed: every
/// <see cref="LinesInterval"/> the fleet's lines are read again from the shared data directory (<see cref="FleetLines"/>)
/// and a worker started for each new shared line, stopped for each one gone (or restarted when its model changed).
/// </summary>
public sealed class ReplicaStandby : IAsyncDisposable
{
    /// <summary>How often the fleet's lines are read again for lines added or removed at run time.</summary>
    public static readonly TimeSpan LinesInterval = TimeSpan.FromSeconds(5);

    private readonly AggregatorOptions _fleet;
    private readonly Func<string, IFleetChannelFactory> _channels;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly ReplicaWorker _first;
    private readonly Dictionary<string, (ReplicaWorker Worker, string Shape)> _lines = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changing = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Task _following = Task.CompletedTask;
    private string? _kept;

    /// <summary>The workers of replica <paramref name="fleet"/>.Replicas.Name; <paramref name="channels"/> gives each its connection by certificate name.</summary>
    public ReplicaStandby(AggregatorOptions fleet, Func<string, IFleetChannelFactory> channels, TimeProvider time, ILoggerFactory loggers)
    {
        if (!fleet.Replicas.Enabled) throw new ArgumentException("Aggregator:Replicas:Name is not set", nameof(fleet));
        (_fleet, _channels, _time, _loggers, _logger, _kept) = (fleet, channels, time, loggers, loggers.CreateLogger<ReplicaStandby>(), fleet.KeptLines);
        _first = new ReplicaWorker(fleet, channels(fleet.Replicas.Identity), time, loggers);
    }

    /// <summary>For a host process: each worker over TLS with a certificate of its own from the fleet CA (<see cref="ReplicaChannels"/>).</summary>
    public static ReplicaStandby ForHost(AggregatorOptions fleet, TimeProvider time, ILoggerFactory loggers) =>
        new(fleet, name => ReplicaChannels.For(fleet, name, time), time, loggers);

    public string Name => _first.Name;

    /// <summary>Updates of the fleet's first model this replica took.</summary>
    public long Accepted => _first.Accepted;

    /// <summary>Updates of each model line this replica took, by line.</summary>
    public IReadOnlyDictionary<string, long> AcceptedByLine => ByLine(w => w.Accepted);

    /// <summary>Updates of each model line this replica refused, by line.</summary>
    public IReadOnlyDictionary<string, long> RefusedByLine => ByLine(w => w.Rejections.Total);

    /// <summary>
    /// Starts the first model's worker and one per shared line (a failure throws: <see cref="DisposeAsync"/> stops what
    /// started), then follows the lines added and removed at run time (when the options were read from a configuration).
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _first.StartAsync(cancellationToken).ConfigureAwait(false);
        foreach (var line in Shared(_fleet.Lines))
        {
            var worker = Worker(line);
            lock (_lines) _lines[line.Name] = (worker, Shape(line)); // kept before it starts, so a dispose stops it whatever happens
            await worker.StartAsync(cancellationToken).ConfigureAwait(false);
        }

        if (_fleet.Configuration is not null) _following = Task.Run(() => FollowLinesAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>
    /// Reads the fleet's lines again and starts a worker for each new shared line, stops the worker of each line gone;
    /// a line whose model or rule changed gets a new worker. A line that cannot be read or joined now is tried again
    /// at the next call; the workers running stay.
    /// </summary>
    public async Task FollowLinesOnceAsync(CancellationToken cancellationToken)
    {
        if (_fleet.Configuration is not { } configuration) return; // options made in code: their lines are as given
        IReadOnlyList<ModelLineOptions> lines;
        string kept;
        try
        {
            (var read, kept) = FleetLines.ReadIfChanged(configuration, _fleet, Volatile.Read(ref _kept));
            if (read is null) return; // the store of added lines is as it was when every line was followed: nothing to do
            lines = Shared(read);
        }
        catch (OptionsValidationException ex)
        {
            _logger.LogLinesUnreadable(Name, string.Join("; ", ex.Errors));
            return;
        }

        await _changing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var wanted = lines.ToDictionary(l => l.Name, StringComparer.Ordinal);
            foreach (var (name, (worker, shape)) in Running())
            {
                if (wanted.TryGetValue(name, out var line) && Shape(line) == shape) continue;
                lock (_lines) _lines.Remove(name);
                await worker.DisposeAsync().ConfigureAwait(false);
                _logger.LogLineLeft(Name, name);
            }

            var joinedAll = true;
            foreach (var line in lines.Where(l => !Has(l.Name))) joinedAll &= await JoinAsync(line, cancellationToken).ConfigureAwait(false);
            if (joinedAll) Volatile.Write(ref _kept, kept); // else read again next time, so a line not joined is tried again
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>Every worker dies at once (<see cref="ReplicaWorker.Abort"/>): a killed replica.</summary>
    public void Abort()
    {
        _stopping.Cancel();
        _first.Abort();
        foreach (var (_, (worker, _)) in Running()) worker.Abort();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync().ConfigureAwait(false);
        await _following.ConfigureAwait(false);
        await _changing.WaitAsync().ConfigureAwait(false);
        await _first.DisposeAsync().ConfigureAwait(false);
        foreach (var (_, (worker, _)) in Running()) await worker.DisposeAsync().ConfigureAwait(false);
        _changing.Release();
    }

    private async Task FollowLinesAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(LinesInterval, _time, cancellationToken).ConfigureAwait(false);
                try
                {
                    await FollowLinesOnceAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    _logger.LogLinesUnreadable(Name, ex.Message); // the standby stands by on; tried again at the next interval
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Starts a worker for <paramref name="line"/>; false (logged) when it cannot now.</summary>
    private async Task<bool> JoinAsync(ModelLineOptions line, CancellationToken cancellationToken)
    {
        ReplicaWorker? worker = null;
        try
        {
            worker = Worker(line);
            await worker.StartAsync(cancellationToken).ConfigureAwait(false);
            lock (_lines) _lines[line.Name] = (worker, Shape(line));
            _logger.LogLineJoined(Name, line.Name);
            return true;
        }
        catch (Exception ex)
        {
            if (worker is not null) await worker.DisposeAsync().ConfigureAwait(false); // also when stopped while joining: no worker left behind
            if (ex is not (System.Data.Common.DbException or Storage.StoreException or IOException or InvalidOperationException or MQTTnet.Exceptions.MqttCommunicationException)) throw;
            _logger.LogLineNotJoined(Name, line.Name, ex.Message);
            return false;
        }
    }

    /// <summary>A worker for <paramref name="line"/> with this replica's name (the line was read with the fleet's settings, which may name another).</summary>
    private ReplicaWorker Worker(ModelLineOptions line)
    {
        var shared = line.Options with { Replicas = _fleet.Replicas with { Line = line.Name } };
        return new ReplicaWorker(shared, _channels(shared.Replicas.Identity), _time, _loggers);
    }

    /// <summary>The lines whose updates the replicas share (the others' rules need every update in the coordinator).</summary>
    private static IReadOnlyList<ModelLineOptions> Shared(IReadOnlyList<ModelLineOptions> lines) => [.. lines.Where(l => l.Options.Replicas.Enabled)];

    /// <summary>What a line's worker is made for: its model and rule; a line re-added with another gets a new worker.</summary>
    private static string Shape(ModelLineOptions line) => $"{line.Options.Model}|{line.Options.Strategy.Name}";

    private bool Has(string line)
    {
        lock (_lines) return _lines.ContainsKey(line);
    }

    private List<(string Name, (ReplicaWorker Worker, string Shape) Line)> Running()
    {
        lock (_lines) return [.. _lines.Select(l => (l.Key, l.Value))];
    }

    private IReadOnlyDictionary<string, long> ByLine(Func<ReplicaWorker, long> read)
    {
        lock (_lines) return _lines.ToDictionary(l => l.Key, l => read(l.Value.Worker), StringComparer.Ordinal);
    }
}
