using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Storage;

public class ModelStoreTests
{
    private static string TempDir() => Path.Combine(Path.GetTempPath(), "edgemlops-models-" + Guid.NewGuid().ToString("N"));

    private static ModelAnnouncement Install(ModelStore store, ulong version)
    {
        var inference = System.Text.Encoding.UTF8.GetBytes($"inference v{version}");
        var train = System.Text.Encoding.UTF8.GetBytes("train step");
        var a = new ModelAnnouncement
        {
            ModelName = "m",
            Version = version,
            Inference = new ArtifactRef { Sha256 = ContentHash.Sha256Hex(inference), Size = (ulong)inference.Length },
            TrainStep = new ArtifactRef { Sha256 = ContentHash.Sha256Hex(train), Size = (ulong)train.Length },
        };
        store.PutBlob(a.Inference.Sha256, inference);
        store.PutBlob(a.TrainStep.Sha256, train);
        store.Commit(a);
        return a;
    }

    /// <summary>
    /// A model that does not fit on a device's full disk (a real tmpfs filled to its last page): the partial file was left
    /// behind under a unique name, holding its space for good — on a device, where space is scarcest. A failed write
    /// removes it, and a store opened after a crash removes what the crash left.
    /// </summary>
    [Fact]
    public void ABlobThatDoesNotFit_LeavesNoPartialFile_AndACrashesLeftoversGoAtTheNextOpen()
    {
        using var disk = Tmpfs.Mount("256k");
        var root = Path.Combine(disk.Path, "models");
        var store = new ModelStore(root);
        var leftover = Path.Combine(root, "blobs", "ab" + new string('0', 62) + ".4242.0123456789abcdef0123456789abcdef.tmp");
        File.WriteAllBytes(leftover, new byte[100]);
        File.SetLastWriteTimeUtc(leftover, DateTime.UtcNow - TimeSpan.FromHours(1)); // a write under way is younger
        var filler = disk.Fill();
        var blob = new byte[64 * 1024];

        Assert.ThrowsAny<IOException>(() => store.PutBlob(ContentHash.Sha256Hex(blob), blob));

        Assert.Equal([leftover], Directory.GetFiles(root, "*", SearchOption.AllDirectories));
        File.Delete(filler);
        _ = new ModelStore(root);
        Assert.Empty(Directory.GetFiles(root, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Commit_SwitchesCurrent_KeepsPrevious_PrunesOlder()
    {
        var root = TempDir();
        var store = new ModelStore(root);
        var v1 = Install(store, 1);
        Install(store, 2);
        Install(store, 3);
        Assert.Equal((3UL, 2UL), (store.CurrentVersion!.Value, store.PreviousVersion!.Value));
        Assert.Equal(2, Directory.GetFiles(Path.Combine(root, "versions")).Length);
        Assert.False(store.HasBlob(v1.Inference.Sha256)); // only current and previous are kept
        var load = new ModelStore(root).LoadCurrent();
        Assert.Null(load.FallbackReason);
        Assert.Equal("inference v3", System.Text.Encoding.UTF8.GetString(load.Model!.Inference));
    }

    [Fact]
    public void CorruptCurrent_FallsBackToPrevious_AndSaysWhy()
    {
        var root = TempDir();
        var store = new ModelStore(root);
        Install(store, 1);
        var v2 = Install(store, 2);
        File.WriteAllText(Path.Combine(root, "blobs", v2.Inference.Sha256), "bit rot");

        var load = new ModelStore(root).LoadCurrent();
        Assert.Equal(1UL, load.Model!.Announcement.Version);
        Assert.Contains("v2 is unusable", load.FallbackReason, StringComparison.Ordinal);
        Assert.Equal(1UL, store.CurrentVersion);
    }

    [Fact]
    public void MissingCurrentAndPrevious_LoadsNothing_WithReason()
    {
        var root = TempDir();
        var store = new ModelStore(root);
        var v1 = Install(store, 1);
        File.Delete(Path.Combine(root, "blobs", v1.TrainStep.Sha256));
        var load = store.LoadCurrent();
        Assert.Null(load.Model);
        Assert.Contains("no usable previous version", load.FallbackReason, StringComparison.Ordinal);
        Assert.Null(new ModelStore(TempDir()).LoadCurrent().Model);
    }

    [Fact]
    public void RollBack_SwapsCurrentAndPrevious()
    {
        var store = new ModelStore(TempDir());
        Assert.False(store.RollBack());
        Install(store, 4);
        Install(store, 5);
        Assert.True(store.RollBack());
        Assert.Equal(4UL, store.CurrentVersion);
        Assert.Equal(4UL, store.LoadCurrent().Model!.Announcement.Version);
    }

    [Fact]
    public void PutBlob_WithWrongHash_IsRefused_AndLeftoverTempFilesAreIgnored()
    {
        var root = TempDir();
        var store = new ModelStore(root);
        Assert.Throws<InvalidDataException>(() => store.PutBlob(new string('a', 64), [1, 2, 3]));
        // A crash between writing a temp file and renaming it leaves only a stray .tmp.
        File.WriteAllText(Path.Combine(root, "state.123.tmp"), "9 8");
        Install(store, 1);
        Assert.Equal(1UL, new ModelStore(root).CurrentVersion);
    }
}
