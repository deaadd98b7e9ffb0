using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests;

/// <summary>Clean pages of mapped files leave the resident set; nothing the process needs is lost.</summary>
[Collection(ProcessMemoryCollection.Name)]
public class CleanFilePagesTests
{
    private const string Smaps = """
        5600a0000000-5600a0002000 r--p 00000000 fe:00 247629                     /opt/agent/edgemlops-agent
        Size:                  8 kB
        Rss:                   8 kB
        Anonymous:             0 kB
        AnonHugePages:         0 kB
        VmFlags: rd mr mw me
        5600a0002000-5600a0a00000 r-xp 00002000 fe:00 247629                     /opt/agent/edgemlops-agent
        Size:              10232 kB
        Rss:                9720 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me
        5600a0a00000-5600a0a10000 r--p 00a00000 fe:00 247629                     /opt/agent/edgemlops-agent
        Size:                 64 kB
        Rss:                  64 kB
        Anonymous:            64 kB
        VmFlags: rd mr mw me ac
        5600a0a10000-5600a0d00000 rw-p 00a10000 fe:00 247629                     /opt/agent/edgemlops-agent
        Size:               3008 kB
        Rss:                2880 kB
        Anonymous:          2880 kB
        VmFlags: rd wr mr mw me ac
        5600a1000000-5600a2000000 rw-p 00000000 00:00 0                          [heap]
        Size:              16384 kB
        Rss:               12000 kB
        Anonymous:         12000 kB
        VmFlags: rd wr mr mw me ac
        7f0000000000-7f0001000000 r-xp 00000000 fe:00 1001                       /usr/lib/libonnxruntime.so
        Size:              16384 kB
        Rss:               18000 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me lo
        7f0001000000-7f0001100000 r-xp 00000000 fe:00 1002                       /usr/lib/libcrypto.so.3
        Size:               1024 kB
        Rss:                   0 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me
        7f0002000000-7f0002100000 r--s 00000000 fe:00 1003                       /data/agent.db-shm
        Size:               1024 kB
        Rss:                  32 kB
        Anonymous:             0 kB
        VmFlags: rd mr me ms
        7f0003000000-7f0003100000 r-xp 00000000 00:01 1004                       /memfd:doublemapper (deleted)
        Size:               1024 kB
        Rss:                 512 kB
        Anonymous:             0 kB
        VmFlags: rd ex mr mw me
        7f0004000000-7f0004100000 r--p 00000000 fe:00 1005                       /tmp/old.so (deleted)
        Size:               1024 kB
        Rss:                 512 kB
        Anonymous:             0 kB
        7f0005000000-7f0005001000 r--p 00000000 00:05 1006                       /dev/dri/card0
        Rss:                   4 kB
        Anonymous:             0 kB
        7f0006000000-7f0006400000 r--p 00000000 fe:00 1007                       /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30
        Size:               4096 kB
        Rss:                 600 kB
        Anonymous:             0 kB
        7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   8 kB
        Anonymous:             0 kB
        7f0007000000-7f0007001000 r--p 00000000 fe:00 1008                       /usr/lib/no-fields.so
        """;

    [Fact]
    public void Droppable_PicksCleanReadOnlyPrivateFileMappingsOnly()
    {
        var picked = CleanFilePages.Droppable(new StringReader(Smaps)).ToList();

        Assert.Equal(
            [
                new CleanFilePages.Mapping(0x5600a0000000, 0x2000, 8, "/opt/agent/edgemlops-agent"),
                new CleanFilePages.Mapping(0x5600a0002000, 0x5600a0a00000 - 0x5600a0002000, 9720, "/opt/agent/edgemlops-agent"),
                new CleanFilePages.Mapping(0x7f0006000000, 0x400000, 600, "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"),
            ],
            picked);
        // Left alone: relocated read-only data (copied-on-write pages), writable data, the heap, a locked mapping, one
        // with nothing resident, a shared mapping, memfd and deleted files, a device, the vDSO, an entry cut short.
    }

    [Fact]
    public async Task Drop_ShrinksTheResidentFilePages_WhileAModelKeepsServingTheSameAnswers()
    {
        await using var offline = await OfflineAgent.StartAsync();
        float[] features = [0.5f, -1f, 2f, 0.25f];
        var expected = offline.Agent.Predict(features).Probabilities;
        var digest = SHA256.HashData("the same bytes"u8.ToArray());

        using var stop = new CancellationTokenSource();
        var mismatches = 0;
        var served = 0;
        var serving = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (!offline.Agent.Predict(features).Probabilities.AsSpan().SequenceEqual(expected)) Interlocked.Increment(ref mismatches);
                Interlocked.Increment(ref served);
            }
        });

        var before = ResidentFileKib();
        var result = CleanFilePages.Drop();
        var after = ResidentFileKib();
        for (var i = 0; i < 20; i++) CleanFilePages.Drop(); // again and again while the model runs
        while (Volatile.Read(ref served) < 1000) await Task.Delay(1);
        stop.Cancel();
        await serving;

        Assert.True(result.Mappings > 10, $"{result.Mappings} mappings dropped");
        Assert.True(result.ResidentKib > 1024, $"{result.ResidentKib} KiB were resident in them");
        Assert.True(after < before - 1024, $"resident file pages {before} KiB before the drop, {after} KiB after");
        Assert.Equal(0, mismatches);
        Assert.Equal(expected, offline.Agent.Predict(features).Probabilities);
        Assert.Equal(digest, SHA256.HashData("the same bytes"u8.ToArray())); // OpenSSL's code came back too
    }

    [Fact]
    public void Releaser_DropsFilePagesOnlyWhenAskedTo()
    {
        long heavy = 0;
        var keeping = new MemoryReleaser(() => heavy, NullLogger.Instance, dropFilePages: false);
        var dropping = new MemoryReleaser(() => heavy, NullLogger.Instance, dropFilePages: true);

        TouchFileBackedCode();
        var before = ResidentFileKib();
        Assert.True(keeping.ReleaseIfHeavyWorkFinished());
        var kept = ResidentFileKib();
        Assert.True(dropping.ReleaseIfHeavyWorkFinished());
        var dropped = ResidentFileKib();

        Assert.True(kept > before - 1024, $"without dropping: {before} KiB -> {kept} KiB");
        Assert.True(dropped < kept - 1024, $"dropping: {kept} KiB -> {dropped} KiB");
    }

    [Fact]
    public void Releaser_DropsFilePagesAtTheFirstReleaseThenAtMostOncePerInterval()
    {
        long heavy = 0;
        var hourly = new MemoryReleaser(() => heavy, NullLogger.Instance, dropFilePages: true, filePagesInterval: TimeSpan.FromHours(1));
        var always = new MemoryReleaser(() => heavy, NullLogger.Instance, dropFilePages: true, filePagesInterval: TimeSpan.Zero);

        for (var round = 0; round < 3; round++)
        {
            Assert.True(hourly.ReleaseIfHeavyWorkFinished());
            Assert.True(always.ReleaseIfHeavyWorkFinished());
            heavy++;
        }

        Assert.Equal(1, hourly.FilePageDrops);
        Assert.Equal(3, always.FilePageDrops);
    }

    [Fact]
    public void Releaser_DropsFilePagesOnceStartUpIsDone_AndAgainAfterTheFirstHeavyWork()
    {
        // Start-up code (configuration, TLS, enrollment) runs once; a cold start's first model install comes after it.
        long heavy = 0;
        var hourly = new MemoryReleaser(() => heavy, NullLogger.Instance, dropFilePages: true, filePagesInterval: TimeSpan.FromHours(1));

        TouchFileBackedCode();
        var before = ResidentFileKib();
        hourly.ReleaseAfterStartUp();
        var afterStartUp = ResidentFileKib();
        Assert.True(afterStartUp < before - 1024, $"start-up's pages: {before} KiB -> {afterStartUp} KiB");
        Assert.Equal(1, hourly.FilePageDrops);
        Assert.False(hourly.ReleaseIfHeavyWorkFinished()); // start-up was the first look: nothing heavy since

        for (var round = 0; round < 3; round++)
        {
            heavy++; // the first model installed, then rounds trained
            Assert.True(hourly.ReleaseIfHeavyWorkFinished());
        }

        Assert.Equal(2, hourly.FilePageDrops); // the install's pages went too; then at most once an hour
    }

    [Fact]
    public void Releaser_AfterStartUp_DropsNothingWhenNotAskedTo()
    {
        var keeping = new MemoryReleaser(() => 0, NullLogger.Instance, dropFilePages: false);
        keeping.ReleaseAfterStartUp();
        Assert.Equal(0, keeping.FilePageDrops);
        Assert.False(keeping.ReleaseIfHeavyWorkFinished());
    }

    private static void TouchFileBackedCode()
    {
        _ = SHA256.HashData(new byte[4096]);
        _ = string.Join(",", Enumerable.Range(0, 1000).Select(i => i.ToString("x", System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static long ResidentFileKib()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("RssFile:", StringComparison.Ordinal));
        return long.Parse(line["RssFile:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }
}
