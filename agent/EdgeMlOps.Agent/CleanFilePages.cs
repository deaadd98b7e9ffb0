using System.Globalization;
using System.Runtime.InteropServices;

namespace EdgeMlOps.Agent;

/// <summary>
/// Unmaps this process's clean, read-only pages of mapped files (code and constant data of the agent binary,
/// ONNX Runtime, OpenSSL, libc) so that only the pages it goes on using come back. Loading ONNX Runtime registers
/// a kernel for every operator version and type and opening a session runs its graph optimisers: that touches
/// most of the library's code once (the kernel maps 64 KB around every fault), and those pages stay in the
/// resident set for the life of the process though serving an MLP uses a small part of them. Android's runtime
/// does the same to its boot image after start-up.
/// </summary>
/// <remarks>
/// Only private mappings of regular files that are not writable and hold no anonymous (copied-on-write) page are
/// advised <c>MADV_DONTNEED</c>, so nothing is lost: the next access maps the page again from the page cache (a
/// minor fault), or re-reads it from the file if the kernel has reclaimed it meanwhile. Relocated read-only data
/// (RELRO) is copied-on-write and so is left alone, as are shared, writable, device, memfd and deleted-file
/// mappings. Each mapping is advised as soon as its <c>/proc/self/smaps</c> entry has been read.
/// </remarks>
public static partial class CleanFilePages
{
    private const int MadvDontNeed = 4;

    /// <summary>A mapping that can be dropped: its address range and how much of it was resident.</summary>
    public readonly record struct Mapping(ulong Start, ulong Length, long ResidentKib, string Path);

    /// <summary>What a drop did.</summary>
    /// <param name="Mappings">Mappings advised.</param>
    /// <param name="ResidentKib">Kibibytes that were resident in them (the most the resident set can have shrunk).</param>
    /// <param name="Failures">Mappings the kernel refused (say, locked ones).</param>
    public readonly record struct Result(int Mappings, long ResidentKib, int Failures);

    /// <summary>
    /// Drops the clean file-backed pages of this process (Linux; elsewhere does nothing and returns an empty
    /// result). Safe to call while other threads run the code being dropped: they fault it back in.
    /// </summary>
    /// <exception cref="IOException"><c>/proc/self/smaps</c> cannot be read (no <c>/proc</c> mounted).</exception>
    public static Result Drop()
    {
        if (!OperatingSystem.IsLinux()) return default;
        using var smaps = new StreamReader("/proc/self/smaps");
        int mappings = 0, failures = 0;
        long resident = 0;
        foreach (var mapping in Droppable(smaps))
        {
            if (Madvise((nint)mapping.Start, (nuint)mapping.Length, MadvDontNeed) == 0)
            {
                mappings++;
                resident += mapping.ResidentKib;
            }
            else
            {
                failures++;
            }
        }

        return new Result(mappings, resident, failures);
    }

    /// <summary>
    /// Reads <c>/proc/PID/smaps</c> text and yields each droppable mapping as soon as its entry is complete:
    /// private, not writable, backed by a regular file that still exists, with resident pages and none anonymous.
    /// </summary>
    public static IEnumerable<Mapping> Droppable(TextReader smaps)
    {
        Mapping? current = null;
        long rss = 0, anonymous = -1;
        var locked = false;
        while (smaps.ReadLine() is { } line)
        {
            if (TryParseHeader(line, out var header, out var eligible))
            {
                if (Complete(current, rss, anonymous, locked) is { } done) yield return done;
                current = eligible ? header : null;
                rss = 0;
                anonymous = -1;
                locked = false;
                continue;
            }

            if (current is null) continue;
            if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss = Kib(line);
            else if (line.StartsWith("Anonymous:", StringComparison.Ordinal)) anonymous = Kib(line);
            else if (line.StartsWith("VmFlags:", StringComparison.Ordinal)) locked = line.AsSpan(8).IndexOf(" lo", StringComparison.Ordinal) >= 0;
        }

        if (Complete(current, rss, anonymous, locked) is { } last) yield return last;
    }

    // An entry is droppable only once its Anonymous line has been seen and says zero: no field, no drop.
    private static Mapping? Complete(Mapping? mapping, long rss, long anonymous, bool locked) =>
        mapping is { } m && rss > 0 && anonymous == 0 && !locked ? m with { ResidentKib = rss } : null;

    // "start-end perms offset dev inode   path": field lines ("Rss:   12 kB") have no '-' in their first word.
    private static bool TryParseHeader(string line, out Mapping mapping, out bool eligible)
    {
        mapping = default;
        eligible = false;
        var span = line.AsSpan();
        var space = span.IndexOf(' ');
        if (space <= 0) return false;
        var range = span[..space];
        var dash = range.IndexOf('-');
        if (dash <= 0 || range[^1] == ':'
            || !ulong.TryParse(range[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(range[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end)
            || end <= start)
        {
            return false;
        }

        var rest = span[(space + 1)..];
        if (rest.Length < 4) return false;
        var perms = rest[..4];
        // Fields: perms, offset, device, inode, then the path (padded with spaces; absent for anonymous memory).
        var path = PathField(rest).ToString();
        mapping = new Mapping(start, end - start, 0, path);
        eligible = perms[1] != 'w' && perms[3] == 'p'
            && path.StartsWith('/')
            && !path.StartsWith("/dev/", StringComparison.Ordinal)
            && !path.StartsWith("/memfd:", StringComparison.Ordinal)
            && !path.EndsWith(" (deleted)", StringComparison.Ordinal);
        return true;
    }

    private static ReadOnlySpan<char> PathField(ReadOnlySpan<char> rest)
    {
        for (var field = 0; field < 4; field++)
        {
            var space = rest.IndexOf(' ');
            if (space < 0) return [];
            rest = rest[(space + 1)..];
        }

        return rest.TrimStart(' ');
    }

    private static long Kib(string line)
    {
        var value = line.AsSpan(line.IndexOf(':') + 1).Trim();
        if (value.EndsWith(" kB", StringComparison.Ordinal)) value = value[..^3];
        return long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var kib) ? kib : 0;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);
}
