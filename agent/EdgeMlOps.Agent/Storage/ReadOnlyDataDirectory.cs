namespace EdgeMlOps.Agent.Storage;

/// <summary>
/// Whether the agent's data directory takes writes (a card remounted read-only after I/O errors, a read-only
/// overlay). An agent that starts on a read-only directory serves the model it has with its stores in memory,
/// refuses what must be kept on disk, and restarts (exit code <see cref="RestartExitCode"/>, for the service
/// manager) once the directory is writable again, to open its stores where they belong.
/// </summary>
public static class ReadOnlyDataDirectory
{
    /// <summary>EX_TEMPFAIL: the agent stops so its supervisor starts it again (systemd <c>Restart=always</c>).</summary>
    public const int RestartExitCode = 75;

    /// <summary>How often a read-only directory is tried again.</summary>
    public static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(2);

    private const int ReadOnlyFileSystem = 30; // EROFS

    /// <summary>
    /// Why <paramref name="directory"/> cannot be written, or null when it can (it is created if missing). Throws the
    /// <see cref="IOException"/> when it cannot be a directory at all (a file in its place): a setting to change.
    /// </summary>
    public static string? Check(string directory)
    {
        var full = Path.GetFullPath(directory);
        return Runtime.Hosting.DataDirectoryProbe.TryWrite(full) switch
        {
            null => null,
            IOException { HResult: ReadOnlyFileSystem } => $"data directory '{full}' is on a read-only file system",
            UnauthorizedAccessException ex => $"data directory '{full}' is not writable ({ex.Message})",
            var other => throw other,
        };
    }

    /// <summary>Returns once <paramref name="directory"/> takes writes again.</summary>
    public static async Task WaitUntilWritableAsync(string directory, TimeProvider time, CancellationToken stopping)
    {
        while (Check(directory) is not null) await Task.Delay(ProbeInterval, time, stopping).ConfigureAwait(false);
    }
}
