using System.Globalization;

namespace EdgeMlOps.Agent.Storage;

/// <summary>
/// The agent's boot epoch: strictly greater at every start, so the fleet orders its status messages
/// by (boot, sequence) across restarts. It is the larger of the wall clock in milliseconds and the
/// last persisted epoch plus one: a device without a real-time clock (booting in 1970) still counts
/// up, and a device whose file cannot be written still moves forward with its clock.
/// </summary>
public static class BootEpoch
{
    /// <summary>Reads the last epoch from <paramref name="path"/>, returns the next one and persists it (best effort).</summary>
    public static ulong Next(string path, DateTimeOffset now)
    {
        ulong last = 0;
        try
        {
            if (File.Exists(path)) _ = ulong.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out last);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            last = 0; // unreadable: the clock alone decides
        }

        var clock = (ulong)Math.Max(0, now.ToUnixTimeMilliseconds());
        var next = Math.Max(clock, last == ulong.MaxValue ? last : last + 1);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            Runtime.Storage.AtomicFile.Write(path, System.Text.Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture)), durable: false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A full or read-only disk must not stop the device from starting.
        }

        return next;
    }
}
