using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests;

/// <summary>Runs alone: these tests read process-wide GC figures that concurrent tests would move.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessMemoryCollection
{
    public const string Name = "process memory";
}

/// <summary>The standalone agent gives memory back after heavy work, and only then.</summary>
[Collection(ProcessMemoryCollection.Name)]
public class MemoryReleaserTests
{
    [Fact]
    public void ReleasesOnlyWhenHeavyWorkFinished_WithACompactingFullCollection()
    {
        long heavy = 0;
        var releaser = new MemoryReleaser(() => Interlocked.Read(ref heavy), NullLogger.Instance);

        var before = GC.GetGCMemoryInfo(GCKind.FullBlocking).Index;
        Assert.True(releaser.ReleaseIfHeavyWorkFinished()); // the first look always releases (start-up is heavy work)
        var full = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Assert.True(full.Index > before, "a full blocking collection ran");
        Assert.True(full.Compacted, "the collection compacted");
        Assert.Equal(GC.MaxGeneration, full.Generation);

        Assert.False(releaser.ReleaseIfHeavyWorkFinished()); // nothing new: serving alone never triggers it
        Assert.False(releaser.ReleaseIfHeavyWorkFinished());

        Interlocked.Increment(ref heavy); // a round trained, or a model installed
        Assert.True(releaser.ReleaseIfHeavyWorkFinished());
        Assert.False(releaser.ReleaseIfHeavyWorkFinished());
    }

    [Fact]
    public void Release_GivesTheLargeObjectHeapBack()
    {
        // 64 MB of large arrays become garbage; one release compacts the large object heap and decommits it.
        var garbage = new List<byte[]>();
        for (var i = 0; i < 64; i++)
        {
            var block = new byte[1 << 20];
            block[^1] = 1;
            garbage.Add(block);
        }

        var held = GC.GetTotalMemory(forceFullCollection: false);
        garbage.Clear();
        MemoryReleaser.Release();
        var after = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Assert.True(GC.GetTotalMemory(forceFullCollection: false) < held - (48 << 20), "the 64 MB of garbage are gone");
        Assert.True(after.TotalCommittedBytes < held - (32 << 20), $"committed {after.TotalCommittedBytes} bytes after the release, {held} in use before");
    }
}
