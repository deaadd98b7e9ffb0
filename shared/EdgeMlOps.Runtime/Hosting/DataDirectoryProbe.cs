namespace EdgeMlOps.Runtime.Hosting;

/// <summary>
/// Whether a host's data directory can be created and written, tried the only reliable way: creating it and a file in
/// it. The agent runs degraded on a directory that takes no writes; the aggregator, which must write its keys and
/// records, refuses to start naming the directory and why.
/// </summary>
public static class DataDirectoryProbe
{
    /// <summary>What stopped creating <paramref name="directory"/> or writing in it (<see cref="IOException"/> or <see cref="UnauthorizedAccessException"/>), or null when it takes writes.</summary>
    public static Exception? TryWrite(string directory)
    {
        var full = Path.GetFullPath(directory);
        try
        {
            Directory.CreateDirectory(full);
            using (new FileStream(Path.Combine(full, ".write-probe"), FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
            {
            }

            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex;
        }
    }

    /// <summary>Why <paramref name="directory"/> cannot be used, for an operator: a file in its place, or the system's reason.</summary>
    public static string Describe(string directory, Exception failure)
    {
        var full = Path.GetFullPath(directory);
        return $"'{full}' cannot be used: {(File.Exists(full) ? "it is a file, not a directory." : failure.Message)}";
    }
}
