using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Storage;

/// <summary>
/// Active/standby aggregators on one shared store: a process waits here until it holds the leader lease, then
/// renews it every third of its term; if a renewal finds the lease lost (this process stalled past the term and a
/// standby took over) it says so and the process must stop — it fails closed rather than run beside a new leader.
/// Owns <paramref name="leases"/>.
/// </summary>
public sealed partial class LeaderGate(LeaderLease leases, TimeSpan term, TimeProvider time, ILogger logger) : IAsyncDisposable
{
    public const string LeaseName = "aggregator-leader";

    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _renewals = Task.CompletedTask;
    private HeldLease? _held;

    /// <summary>This process's holder name: host, process and a random part (a restarted process is a new holder).</summary>
    public string Holder { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>The lease while held (its token fences this leader's term).</summary>
    public HeldLease? Held => Volatile.Read(ref _held);

    /// <summary>Completes when the lease was lost after being held.</summary>
    public Task Lost => _lost.Task;

    /// <summary>Waits (as a standby) until the lease is this process's, then keeps renewing it.</summary>
    public async Task AcquireAsync(CancellationToken cancellationToken)
    {
        var waiting = false;
        while (true)
        {
            if (leases.TryAcquire(LeaseName, Holder, term) is { } held)
            {
                Volatile.Write(ref _held, held);
                LogLeader(Holder, held.Token);
                _renewals = Task.Run(() => RenewAsync(_stop.Token), CancellationToken.None);
                return;
            }

            if (!waiting)
            {
                waiting = true;
                LogStandby(Holder, leases.Current(LeaseName)?.Holder ?? "?", term.TotalSeconds);
            }

            await Task.Delay(term / 3, time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _renewals.ConfigureAwait(false);
        if (Held is { } held && !_lost.Task.IsCompleted) leases.Release(held); // a clean stop hands over at once
        leases.Dispose();
        _stop.Dispose();
    }

    private async Task RenewAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(term / 3, time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            HeldLease? renewed;
            try
            {
                renewed = leases.Renew(Held!, term);
            }
            catch (System.Data.Common.DbException ex)
            {
                // The store is away past its retries: keep the term we have and try again; past it, we are not the leader.
                if (time.GetUtcNow() < Held!.Expires) continue;
                LogLost(Holder, Held.Token, ex.Message);
                _lost.TrySetResult();
                return;
            }

            if (renewed is null)
            {
                LogLost(Holder, Held!.Token, "another process holds the lease now");
                _lost.TrySetResult();
                return;
            }

            Volatile.Write(ref _held, renewed);
        }
    }

    [LoggerMessage(EventId = 2070, Level = LogLevel.Information, Message = "Leader: {Holder} holds the aggregator lease (fencing token {Token})")]
    private partial void LogLeader(string holder, long token);

    [LoggerMessage(EventId = 2071, Level = LogLevel.Information, Message = "Standby: {Holder} waits for the aggregator lease held by {Leader} (term {TermSeconds} s)")]
    private partial void LogStandby(string holder, string leader, double termSeconds);

    [LoggerMessage(EventId = 2072, Level = LogLevel.Critical, Message = "Lost the aggregator lease: {Holder} (token {Token}) stops ({Reason})")]
    private partial void LogLost(string holder, long token, string reason);
}
