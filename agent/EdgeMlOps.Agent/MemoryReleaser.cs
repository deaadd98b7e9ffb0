using System.Diagnostics;
using System.Runtime;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent;

/// <summary>
/// Gives memory back after the agent's rare heavy work. Training a round, encoding its update,
/// fetching and loading a model version allocate megabytes that are garbage a moment later; the
/// GC would keep that space committed (its background collections do not compact, and the large
/// object heap is never compacted by default), and glibc keeps freed native blocks in its
/// arenas. After each such step this runs one blocking, compacting, aggressive collection (which
/// also decommits the freed regions) and <c>malloc_trim(0)</c>. Serving predictions does not
/// trigger it; a collection of the agent's few live megabytes takes milliseconds. With
/// <paramref name="dropFilePages"/> it also unmaps the clean pages of mapped code (<see cref="CleanFilePages"/>):
/// what start-up, session creation and training touched once, the pages serving uses come back. That is done once
/// start-up is done (<see cref="ReleaseAfterStartUp"/>: configuration, TLS, enrollment and the stores' opening run
/// once, and a cold start's first session would otherwise be created on top of them), at the first release after
/// heavy work, and then at most once per <paramref name="filePagesInterval"/> (default 30 s): the pages a round
/// brings back are mostly the same every round, and a fleet training every few seconds should not pay to map its
/// serving code again each time. Pages are dropped before the collection, so the collection's own transient
/// (compacting copies live objects before it frees) does not stack on them.
/// </summary>
public sealed partial class MemoryReleaser(Func<long> heavyWork, ILogger logger, bool dropFilePages = false, TimeSpan? filePagesInterval = null)
{
    private readonly TimeSpan _filePagesInterval = filePagesInterval ?? TimeSpan.FromSeconds(30);
    private bool _dropFilePages = dropFilePages;
    private long _seen = -1;
    private bool _dropAtNextRelease = true;
    private long _lastDrop;
    private int _drops;

    /// <summary>How many releases also dropped clean file pages.</summary>
    public int FilePageDrops => Volatile.Read(ref _drops);

    /// <summary>Watches an agent: rounds trained (updates produced), tasks skipped, models installed or refused.</summary>
    public static MemoryReleaser For(DeviceAgent agent, ILogger logger, bool dropFilePages, TimeSpan filePagesInterval)
    {
        var counters = agent.Counters;
        return new MemoryReleaser(
            () => Interlocked.Read(ref counters.UpdatesProduced) + Interlocked.Read(ref counters.TasksSkipped)
                + Interlocked.Read(ref counters.ModelInstalls) + Interlocked.Read(ref counters.ModelInstallFailures),
            logger,
            dropFilePages,
            filePagesInterval);
    }

    /// <summary>Checks every <paramref name="interval"/> whether a heavy step finished since the last look, until cancelled.</summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false)) ReleaseIfHeavyWorkFinished();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Releases memory if the heavy-work count moved since the last call (and on the first call); returns whether it did.</summary>
    public bool ReleaseIfHeavyWorkFinished()
    {
        var heavy = heavyWork();
        if (heavy == _seen) return false;
        _seen = heavy;
        ReleaseNow("heavy work", _dropAtNextRelease || Stopwatch.GetElapsedTime(_lastDrop) >= _filePagesInterval);
        _dropAtNextRelease = false;
        return true;
    }

    /// <summary>
    /// Releases once start-up is done (the agent started, its API listening), whatever the heavy-work count says, and
    /// drops the clean file pages start-up touched. This is the first look: the next release is the one after the
    /// next heavy work, which drops file pages again whatever the interval (a cold start's first model install).
    /// </summary>
    public void ReleaseAfterStartUp()
    {
        _seen = heavyWork();
        ReleaseNow("start-up", dropPages: true);
        _dropAtNextRelease = true;
    }

    private void ReleaseNow(string after, bool dropPages)
    {
        var before = Environment.WorkingSet;
        var started = Stopwatch.GetTimestamp();
        var pages = default(CleanFilePages.Result);
        if (_dropFilePages && dropPages)
        {
            try
            {
                pages = CleanFilePages.Drop();
                _lastDrop = Stopwatch.GetTimestamp();
                Interlocked.Increment(ref _drops);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or EntryPointNotFoundException or DllNotFoundException)
            {
                // No /proc (a locked-down container) or no madvise: the rest of the release still works; stop trying.
                _dropFilePages = false;
                LogFilePagesUnavailable(ex.Message);
            }
        }

        Release();
        LogReleased(after, before / 1048576.0, Environment.WorkingSet / 1048576.0, pages.Mappings, pages.ResidentKib / 1024.0, pages.Failures, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>One compacting collection of every generation, the large object heap included, then glibc's trim.</summary>
    public static void Release()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        if (OperatingSystem.IsLinux())
        {
            try
            {
                _ = MallocTrim(0);
            }
            catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
            {
                // musl and other C libraries without malloc_trim: the GC's part still happened.
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot release file pages, no longer trying: {Reason}")]
    private partial void LogFilePagesUnavailable(string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Released memory after {After}: RSS {Before:F1} MB -> {AfterRss:F1} MB ({Mappings} file mappings dropped, {FileMb:F1} MB of them resident, {Refused} refused) in {Milliseconds:F1} ms")]
    private partial void LogReleased(string after, double before, double afterRss, int mappings, double fileMb, int refused, double milliseconds);
}
