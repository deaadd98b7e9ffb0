namespace EdgeMlOps.Runtime.Storage;

/// <summary>
/// Replacing a file so that a crash leaves the old one or the new one, never a torn one: written beside it under a name
/// of its own, then renamed over it. A write that fails (a full disk, an I/O error) removes what it wrote — on a device a
/// leftover held scarce space for good — and what a crash left is removed by <see cref="RemoveAbandoned"/>.
/// </summary>
public static class AtomicFile
{
    /// <summary>How the files a write is made in end: what <see cref="RemoveAbandoned"/> looks for.</summary>
    public const string TemporarySuffix = ".tmp";

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically; on disk before the rename when <paramref name="durable"/>; readable by the owner only when <paramref name="ownerOnly"/>.</summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool durable, bool ownerOnly = false)
    {
        var temporary = $"{path}.{Guid.NewGuid():N}{TemporarySuffix}";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (ownerOnly && !OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: durable);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Deletes the temporary files in <paramref name="directory"/> (not below it) older than <paramref name="olderThan"/>:
    /// writes a crash or a power loss cut short (a younger one may be a write under way in another process).
    /// </summary>
    public static void RemoveAbandoned(string directory, TimeSpan olderThan)
    {
        if (!Directory.Exists(directory)) return;
        var before = DateTime.UtcNow - olderThan;
        foreach (var temporary in Directory.EnumerateFiles(directory, "*" + TemporarySuffix))
        {
            if (File.GetLastWriteTimeUtc(temporary) < before) TryDelete(temporary);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Not there (the create failed), or not deletable now (a read-only disk): the next start's sweep tries again.
        }
    }
}
