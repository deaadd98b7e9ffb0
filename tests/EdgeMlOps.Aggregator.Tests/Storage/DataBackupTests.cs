using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary><c>edgemlops-aggregator --backup DIR</c>: a copy taken while the aggregator runs, which starts as it is after the original is lost.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class DataBackupTests
{
    [Fact]
    public async Task ABackupTakenWhileRunning_RestoresTheRegistryAuditAndKeys_AfterTheOriginalIsDamaged()
    {
        var work = AggregatorFixture.TempDirectory();
        var data = Path.Combine(work, "data");
        var backup = Path.Combine(work, "backup");
        var options = AggregatorFixture.Options(data, clients: 1);
        byte[] root;
        IReadOnlyList<string> lines;
        await using (var node = new AggregatorNode(options))
        {
            node.Governance.Move(node.Registry.Version("tiny", 1)!, VersionStates.Archived, "alice", "retired");
            root = node.Keys.RootPublicKey;
            lines = DataBackup.Write(data, StoreEngine.Sqlite, backup); // the node holds every store open
        }

        Assert.Contains(lines, l => l.StartsWith("registry.db: ", StringComparison.Ordinal) && l.EndsWith("(online backup, checked)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("files (artifacts, keys, fleet CA): ", StringComparison.Ordinal));
        var key = Path.Combine("pki", "ca.key");
        Assert.Equal(File.GetUnixFileMode(Path.Combine(data, key)), File.GetUnixFileMode(Path.Combine(backup, key)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(backup, key)));

        File.WriteAllBytes(Path.Combine(data, "registry.db"), new byte[4096]); // the original is lost
        Assert.Throws<StoreException>(() => new AggregatorNode(options));

        await using var restored = new AggregatorNode(options with { DataDirectory = backup });
        Assert.Equal(VersionStates.Archived, restored.Registry.Version("tiny", 1)!.State);
        Assert.Equal(root, restored.Keys.RootPublicKey);
        InterruptedCommitTests.AssertRegistryAndAuditAgree(restored.Registry, restored.Audit, "tiny");
        Assert.Contains(restored.Audit.Entries("model/tiny/v1"), e => e.Actor == "alice" && e.After == VersionStates.Archived);
    }

    [Fact]
    public async Task TheBackupFlag_CopiesTheRunningAggregatorsData_AndRefusesADirectoryThatIsNotEmpty()
    {
        var work = AggregatorFixture.TempDirectory();
        string[] args = ["--Aggregator:HttpUrl=http://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:DataDirectory=data"];
        using var host = new HostProcess(HostProcess.Aggregator, work, args);
        await host.WaitForAsync("Aggregator for fleet");

        var (code, output, errors) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, work, ["--backup", "copy", .. args]);
        Assert.True(code == 0, errors);
        Assert.Contains("audit.db: ", output, StringComparison.Ordinal);
        Assert.Contains($"written to {Path.Combine(work, "copy")}", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(work, "copy", "keys", "root.pk8")));

        var (again, _, refused) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, work, ["--backup", "copy", .. args]);
        Assert.Equal(1, again);
        Assert.Contains("is not empty", refused, StringComparison.Ordinal);

        var (missing, _, said) = await HostProcess.RunToExitAsync(HostProcess.Aggregator, work, [.. args, "--backup"]);
        Assert.Equal(2, missing);
        Assert.Contains("--backup: give the directory", said, StringComparison.Ordinal);
    }
}
