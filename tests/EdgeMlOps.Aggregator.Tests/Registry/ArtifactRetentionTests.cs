using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Aggregator.Rounds;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// A long-running aggregator keeps a version per round; their artifacts filled its disk without end (400 KB a round for
/// the MNIST MLP, kept for ever). <c>Registry:KeepVersions</c> keeps the artifacts of the newest versions and of every
/// version something may still need — deployed, approved, uploaded, named by a rollout — and prunes the rest: files
/// gone, the registry row kept with its lineage, metrics and hashes, marked pruned, and the prune audited.
/// </summary>
public sealed class ArtifactRetentionTests
{
    [Fact]
    public async Task PastTheNewestKept_ARoundsArtifactsArePruned_ItsRowKept_AndWhatTheFleetNeedsIsNot()
    {
        var dir = AggregatorFixture.TempDirectory();
        var options = AggregatorFixture.Options(dir, clients: 1) with
        {
            Registry = new RegistryOptions { KeepVersions = 3 },
            Governance = new GovernanceOptions { Mode = DeploymentMode.Governed, Identities = [AggregatorFixture.ViewerIdentity] },
        };
        await using (var node = new AggregatorNode(options))
        {
            await node.StartAsync(CancellationToken.None);
            await using var device = new ScriptedDevice("d-1", "test", node);
            await device.ConnectAsync(5);
            await Eventually.Until(() => node.Devices.Eligible().Count == 1, "the device eligible");
            var initial = node.Monitor.NewProfile(); // each version inherits it (no training sketches), kept per version
            node.Registry.SaveReference("tiny", 1, initial.ToProto().ToByteArray());
            node.Monitor.SetReference(1, initial);

            // v2 and v3 are rolled out in turn (v2, archived, is the rollback target of v3's rollout); v4 is approved; then
            // rounds make v5 to v10.
            for (ulong v = 2; v <= 3; v++)
            {
                await TrainRoundAsync(node, device);
                node.Governance.Approve("alice", "tiny", v, "reviewed");
                var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v, Stages = [1.0], Reason = "to everyone" }, CancellationToken.None);
                await node.Rollouts.AdvanceAsync("bob", rollout.Id, "done", CancellationToken.None);
            }

            await TrainRoundAsync(node, device);
            node.Governance.Approve("alice", "tiny", 4, "kept for later");
            for (var i = 0; i < 6; i++) await TrainRoundAsync(node, device);
            Assert.Equal(10UL, node.CurrentVersion.Version);

            var versions = node.Registry.Versions("tiny").ToDictionary(v => v.Version);
            Assert.Equal((VersionStates.Archived, VersionStates.Deployed), (versions[2].State, versions[3].State));
            ulong[] kept = [1, 2, 3, 4, 8, 9, 10]; // initial, a rollback target, deployed, approved, the newest three
            ulong[] pruned = [5, 6, 7];
            Assert.All(kept, v => Assert.Null(versions[v].ArtifactsPrunedAt));
            Assert.All(kept, v => Assert.NotNull(node.Artifacts.TryGetPath(versions[v].InferenceSha256)));
            Assert.All(pruned, v => Assert.NotNull(versions[v].ArtifactsPrunedAt));
            Assert.All(pruned, v => Assert.Null(node.Artifacts.TryGetPath(versions[v].InferenceSha256)));
            Assert.All(pruned, v => Assert.Equal(versions[10].TrainStepSha256, versions[v].TrainStepSha256)); // one train step for every version of this model:
            Assert.NotNull(node.Artifacts.TryGetPath(versions[10].TrainStepSha256)); // a file a kept version names stays
            Assert.All(pruned, v => Assert.Equal(v - 1, versions[v].Parent)); // lineage, metrics and hashes stay
            var audited = node.Audit.Entries("model/tiny").Where(e => e.Action == "version.prune").ToList();
            Assert.NotEmpty(audited);
            Assert.Equal(["v5", "v6", "v7"], audited.Select(e => e.Reason.Split()[2]).ToArray()); // one version at a time, as each left the newest three
            Assert.EndsWith("; drift references of v5 deleted", audited[0].Reason, StringComparison.Ordinal);

            // A pruned version's drift references go with its files, from the store and from memory: for MNIST they are
            // 723 KB a version (the training sketches of 784 inputs), and every one was kept, and read at each start.
            Assert.Equal(kept, node.Registry.References("tiny").Select(r => r.Version));
            Assert.All(pruned, v => Assert.Null(node.Monitor.Reference(v)));
            Assert.All(kept, v => Assert.NotNull(node.Monitor.Reference(v)));

            // What needs the files says so instead of failing: approval, a rollout, the card.
            var approve = Assert.Throws<GovernanceException>(() => node.Governance.Approve("alice", "tiny", 6, "too late"));
            Assert.Contains("pruned", approve.Message, StringComparison.Ordinal);
            var rollOut = await Assert.ThrowsAsync<GovernanceException>(() => node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 6, Stages = [1.0], Reason = "too late" }, CancellationToken.None));
            Assert.Contains("v6 cannot be rolled out: its artifacts were pruned", rollOut.Message, StringComparison.Ordinal);
            var card = ModelCard.Build(node.Registry, node.Options, node.Monitor, versions[6], artifacts: node.Artifacts);
            Assert.Contains("pruned", card.Markdown, StringComparison.Ordinal);
            Assert.Contains("Its reference profile was pruned with its artifacts", card.Markdown, StringComparison.Ordinal);
        }

        // A restart resumes from the newest version, and a second prune finds nothing more to do.
        await using var again = new AggregatorNode(options);
        await again.StartAsync(CancellationToken.None);
        Assert.Equal(10UL, again.CurrentVersion.Version);
        Assert.Equal(7, again.Registry.Versions("tiny").Count(v => v.ArtifactsPrunedAt is null));
        Assert.Null(again.Monitor.Reference(6));
        Assert.NotNull(again.Monitor.Reference(9));
    }

    [Fact]
    public void KeepVersionsZero_KeepsEveryArtifact_OneKeepsTheNewest_AndANegativeCountIsRefused()
    {
        var dir = AggregatorFixture.TempDirectory();
        using var registry = new ModelRegistry(Path.Combine(dir, "registry.db"));
        using var audit = new AuditLog(Path.Combine(dir, "audit.db"));
        var artifacts = new ArtifactStore(Path.Combine(dir, "artifacts"));
        registry.AddModel("tiny", "mlp-4-3", DateTimeOffset.UtcNow);
        for (ulong v = 1; v <= 4; v++)
        {
            var sha = artifacts.Put([(byte)v, 1, 2, 3]);
            registry.AddVersion(new ModelVersionRecord("tiny", v, v - 1, (long)v, 1, 5, sha, 4, string.Empty, 0, null, null, null, DateTimeOffset.UtcNow));
        }

        ArtifactRetention Retention(int keep) => new(AggregatorFixture.Options(dir, clients: 1) with { Registry = new RegistryOptions { KeepVersions = keep } },
            registry, artifacts, audit, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        foreach (var v in new ulong[] { 1, 2, 3, 4 })
        {
            registry.SaveReference("tiny", v, [1]);
            registry.SaveCohortReference("tiny", v, "eu", [2]);
            registry.SavePredictionReference("tiny", v, [3]);
        }

        Assert.Null(Retention(0).Prune());
        Assert.All(registry.Versions("tiny"), v => Assert.NotNull(artifacts.TryGetPath(v.InferenceSha256)));
        var pruned = Retention(1).Prune();
        Assert.Equal([1UL, 2UL, 3UL], pruned!.Versions);
        Assert.Equal(12L, pruned.BytesFreed); // three 4-byte files
        Assert.Equal([1UL, 2UL, 3UL], pruned.ProfilesDropped);
        Assert.Equal([4UL], registry.References("tiny").Select(r => r.Version));
        Assert.Equal([4UL], registry.CohortReferences("tiny").Select(r => r.Version));
        Assert.Equal([4UL], registry.PredictionReferences("tiny").Select(r => r.Version));
        Assert.Equal([4UL], registry.KeptVersions("tiny").Select(v => v.Version));
        Assert.Null(Retention(1).Prune()); // nothing more to do
        Assert.Contains(new RegistryOptions { KeepVersions = -1 }.Problems(), p => p.Key == "Registry:KeepVersions");
    }

    private static async Task TrainRoundAsync(AggregatorNode node, ScriptedDevice device)
    {
        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await device.NextTaskAsync(TimeSpan.FromSeconds(20));
        await device.PublishAsync("update", device.Update(task, 0.01f));
        Assert.Equal(RoundStatus.Completed, (await round).Status);
    }
}
