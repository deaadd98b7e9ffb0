using System.Globalization;

namespace EdgeMlOps.Simulator;

/// <summary>A simulation that would run out of open files, said before it starts rather than as a socket error at device 2,450.</summary>
public sealed class DescriptorBudgetException(string message) : Exception(message);

/// <summary>
/// How many file descriptors a simulated fleet needs in one process, against the process's limit
/// (20,000 here). Measured costs: an MQTT device is one client socket, plus one on the broker's side
/// when the broker runs in the same process; a device with file stores holds two SQLite databases
/// with their WAL and shared-memory files (six descriptors); in-memory stores and the in-memory
/// transport hold none.
/// </summary>
public static class DescriptorBudget
{
    /// <summary>Descriptors the process needs besides its devices (runtime, HTTP, the aggregator's stores, logs).</summary>
    public const int Baseline = 512;

    public const int PerFileStoreDevice = 6;

    public static (int Devices, long Needed, string Where) InProcessFleet(int devices, bool inMemoryTransport, bool embeddedBroker, bool inMemoryStores)
    {
        var perDevice = (inMemoryTransport ? 0 : 1 + (embeddedBroker ? 1 : 0)) + (inMemoryStores ? 0 : PerFileStoreDevice);
        return (devices, Baseline + (long)perDevice * devices, "this process");
    }

    public static (int Devices, long Needed, string Where) Worker(int devices, bool inMemoryStores) =>
        (devices, Baseline + (long)(1 + (inMemoryStores ? 0 : PerFileStoreDevice)) * devices, "each worker process");

    public static (int Devices, long Needed, string Where) EmbeddedBroker(int devices) =>
        (devices, Baseline + (long)devices, "the aggregator's process (its embedded broker holds one socket per device)");

    /// <summary>Throws a <see cref="DescriptorBudgetException"/> naming the way out when <paramref name="budget"/> exceeds <paramref name="limit"/> (this process's soft limit by default).</summary>
    public static void ThrowIfTooSmall((int Devices, long Needed, string Where) budget, long? limit = null)
    {
        limit ??= OpenFileLimit();
        if (limit is null || budget.Needed <= limit) return;
        throw new DescriptorBudgetException(FormattableString.Invariant(
            $"{budget.Devices} simulated devices need about {budget.Needed} open files in {budget.Where}; its limit is {limit}. ") +
            "Spread the agents over processes (--workers K), keep device stores in memory (--device-stores memory), " +
            "run them without sockets (--transport memory), or put the broker in its own process (--broker mqtt://host:port).");
    }

    /// <summary>The soft limit on open files of this process (Linux), or null when unknown.</summary>
    public static long? OpenFileLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal)) continue;
                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }
}
