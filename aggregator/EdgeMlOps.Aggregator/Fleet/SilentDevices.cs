using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>
/// Forgets the devices the fleet no longer hears from (<see cref="DeviceOptions.ForgetAfter"/>), so a fleet whose
/// devices come and go — phones replaced, vehicles sold, sensors swapped — does not grow the aggregator's memory, or
/// the broker's retained messages, with every device it ever had. Each forgotten device's retained status is cleared
/// on the broker (an empty retained message), so a restart does not read it back; a device that speaks again is added
/// anew by its status. Its enrollment, its audit trail and its message ids are not touched here.
/// </summary>
public sealed class SilentDevices(DeviceOptions options, DeviceDirectory devices, FleetPublisher publisher, Topics topics, TimeProvider time, ILogger logger)
{
    private long _forgotten;

    /// <summary>Devices forgotten since the process started.</summary>
    public long Forgotten => Interlocked.Read(ref _forgotten);

    /// <summary>Looks every <see cref="DeviceOptions.SweepEvery"/> until <paramref name="stopping"/> (never when forgetting is off).</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        if (options.ForgetAfter == TimeSpan.Zero) return;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await Task.Delay(options.SweepEvery, time, stopping).ConfigureAwait(false);
                await SweepAsync(stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Forgets the devices past their time now and clears their retained statuses; returns how many were forgotten.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        if (options.ForgetAfter == TimeSpan.Zero) return 0;
        var gone = devices.ForgetSilent(options.ForgetAfter);
        if (gone.Count == 0) return 0;
        Interlocked.Add(ref _forgotten, gone.Count);
        var cleared = 0;
        try
        {
            foreach (var device in gone)
            {
                if (devices.TryGet(device.DeviceId, out _)) continue; // it spoke again meanwhile: its new status is the one retained
                await publisher.ClearRetainedAsync(topics.Status(device.DeviceId), cancellationToken).ConfigureAwait(false);
                cleared++;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            // The broker keeps those statuses: a restart reads them back, and they are forgotten again a period later.
            logger.LogRetainedStatusesNotCleared(gone.Count - cleared, ex.Message);
        }

        logger.LogDevicesForgotten(gone.Count, Period(options.ForgetAfter), Describe(gone));
        return gone.Count;
    }

    /// <summary>"7 days", "12 hours", "17.3 s": what the setting says, readably.</summary>
    internal static string Period(TimeSpan period) =>
        period.TotalDays >= 1 ? FormattableString.Invariant($"{period.TotalDays:0.##} days")
        : period.TotalHours >= 1 ? FormattableString.Invariant($"{period.TotalHours:0.##} hours")
        : FormattableString.Invariant($"{period.TotalSeconds:0.#} s");

    private static string Describe(IReadOnlyList<DeviceInfo> gone) =>
        string.Join(", ", gone.Take(5).Select(d => d.DeviceId)) + (gone.Count > 5 ? $" and {gone.Count - 5} more" : string.Empty);
}
