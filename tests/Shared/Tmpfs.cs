using System.Diagnostics;

namespace EdgeMlOps.Tests;

/// <summary>
/// A small tmpfs mounted on a fresh directory, for a disk that is full or read-only (root is not stopped by file modes,
/// so a real mount is the only honest way); the tests that use it need root, as CI has.
/// </summary>
public sealed class Tmpfs : IDisposable
{
    private Tmpfs(string path) => Path = path;

    /// <summary>The mount point.</summary>
    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="size"/> (mount's syntax: <c>1m</c>, <c>64k</c>), read-only when asked.</summary>
    public static Tmpfs Mount(string size, bool readOnly = false)
    {
        var path = Directory.CreateTempSubdirectory("edgemlops-tmpfs-").FullName;
        Run("mount", "-t", "tmpfs", "-o", $"size={size}{(readOnly ? ",ro" : string.Empty)}", "edgemlops-test", path);
        return new Tmpfs(path);
    }

    /// <summary>Remounts it read-only or read-write.</summary>
    public void Remount(bool readOnly) => Run("mount", "-o", readOnly ? "remount,ro" : "remount,rw", Path);

    /// <summary>Fills what is left of it with a file (returned, to delete when space should come back).</summary>
    public string Fill()
    {
        var filler = System.IO.Path.Combine(Path, "filler");
        using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0); // unbuffered: nothing left to flush on close
        var block = new byte[4096];
        try
        {
            while (true) stream.Write(block);
        }
        catch (IOException)
        {
            // full
        }

        return filler;
    }

    public void Dispose()
    {
        Run("umount", Path);
        Directory.Delete(Path, recursive: true);
    }

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed ({error.Trim()}); this test needs root, as CI runs it");
    }
}
