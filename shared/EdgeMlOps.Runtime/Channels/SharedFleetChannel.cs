using System.Buffers;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Runtime.Channels;

/// <summary>
/// One device connection shared by the agents of the models it runs (one per model line): a device has one identity,
/// one client id and one session at the broker, however many models it serves. The first model's agent owns the
/// connection (<see cref="Owner"/>: its client id, Last Will and session; connecting and disconnecting it); each line's
/// agent gets a view (<see cref="Views"/>) with its own subscriptions and handlers. A received message goes to every
/// view subscribed to a filter it matches, in arrival order — and one no view claims (a persistent session's
/// subscription from an earlier run) to the owner, whose session it is; every (re)connection is announced to every view.
/// </summary>
public sealed class SharedFleetChannel(IFleetChannelFactory inner)
{
    private readonly Lock _gate = new();
    private readonly List<SharedFleetChannelView> _views = [];
    private IFleetChannel? _connection;

    /// <summary>The broker's address (for logs and status lines).</summary>
    public string Address => inner.Address;

    /// <summary>Opens the connection (once) for the first model's agent: the view it returns connects, disconnects and disposes it.</summary>
    public IFleetChannelFactory Owner => new Factory(this, owner: true);

    /// <summary>Views on the connection for the model lines' agents: they subscribe and publish on it, and leave it as it is.</summary>
    public IFleetChannelFactory Views => new Factory(this, owner: false);

    /// <summary>Views attached now (the owner's and every line's not yet disposed).</summary>
    public int ViewCount
    {
        get
        {
            lock (_gate) return _views.Count;
        }
    }

    private SharedFleetChannelView Open(FleetChannelOptions options, ILoggerFactory loggers, bool owner)
    {
        lock (_gate)
        {
            if (owner)
            {
                if (_connection is not null) throw new InvalidOperationException("The shared connection is already open: one owner per device.");
                _connection = inner.Create(options, loggers);
                _connection.MessageReceived = DispatchAsync;
                _connection.Connected = AnnounceAsync;
            }

            var connection = _connection ?? throw new InvalidOperationException("The first model's agent opens the device's connection before any line's agent uses it.");
            var view = new SharedFleetChannelView(this, connection, owner);
            _views.Add(view);
            return view;
        }
    }

    /// <summary>Takes a disposed view off the connection.</summary>
    internal void Detach(SharedFleetChannelView view)
    {
        lock (_gate) _views.Remove(view);
    }

    /// <summary>Filters of <paramref name="filters"/> no view but <paramref name="leaving"/> still subscribes to.</summary>
    internal IReadOnlyList<string> Unwanted(SharedFleetChannelView leaving, IReadOnlyList<string> filters)
    {
        lock (_gate) return [.. filters.Where(f => !_views.Any(v => v != leaving && v.Wants(f)))];
    }

    private SharedFleetChannelView[] Snapshot()
    {
        lock (_gate) return [.. _views];
    }

    private async Task DispatchAsync(string topic, ReadOnlySequence<byte> payload)
    {
        var views = Snapshot();
        var receivers = views.Where(v => v.Matches(topic)).ToList();
        if (receivers.Count == 0 && views.FirstOrDefault(v => v.IsOwner) is { } owner) receivers.Add(owner);
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failed = null;
        foreach (var view in receivers)
        {
            try
            {
                if (view.MessageReceived is { } handler) await handler(topic, payload).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                failed ??= System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex); // the others still hear it; the connection hears the failure after
            }
        }

        failed?.Throw();
    }

    private async Task AnnounceAsync(bool sessionPresent)
    {
        foreach (var view in Snapshot())
        {
            if (view.Connected is { } handler) await handler(sessionPresent).ConfigureAwait(false);
        }
    }

    private sealed class Factory(SharedFleetChannel shared, bool owner) : IFleetChannelFactory
    {
        public string Address => shared.Address;

        public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) => shared.Open(options, loggers, owner);
    }
}
