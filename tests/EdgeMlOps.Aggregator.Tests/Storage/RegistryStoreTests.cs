using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The registry's contract, the same on SQLite and PostgreSQL: what is written is read back, after a restart too.</summary>
public sealed class RegistryStoreTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    private static ModelVersionRecord Version(ulong version, double? accuracy) =>
        new("m", version, version - 1, (long)version, 7, 700, $"sha-i-{version}", 1000 + (long)version, $"sha-t-{version}", 2000, accuracy, accuracy is null ? null : 0.5, null, T0.AddMinutes(version))
        {
            State = VersionStates.Candidate,
            CreatedBy = "trainer",
        };

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void VersionsStatesAndLineage_RoundTrip_AndSurviveARestart(string engine)
    {
        using var stores = new TestStores(engine);
        using (var registry = new ModelRegistry(stores.Databases.Open("registry.db", durable: true)))
        {
            registry.AddModel("m", "mlp-4-3", T0);
            registry.AddVersion(Version(1, 0.91));
            registry.AddVersion(Version(2, null) with { TaskScores = [new("digit", 0.61, 0.79), new("bottom", 12.5, null)] }); // a multi-task model's; an R² that is not a number is kept as none
            registry.SetState("m", 2, VersionStates.Approved, "looks good");
            registry.SetEvaluation("m", 2, """{"cohorts":1}""");
            registry.SetExplanation("m", 2, "held-out", """{"f":[1]}""");
            Assert.Throws<KeyNotFoundException>(() => registry.SetState("m", 9, VersionStates.Approved, null));
        }

        using var reopened = stores.Reopen();
        using var again = new ModelRegistry(reopened.Open("registry.db", durable: true));
        Assert.Equal("mlp-4-3", again.GetModelSpec("m"));
        Assert.Null(again.GetModelSpec("other"));
        var versions = again.Versions("m");
        Assert.Equal([1UL, 2UL], versions.Select(v => v.Version));
        Assert.Equal(0.91, versions[0].EvalAccuracy);
        Assert.Null(versions[1].EvalAccuracy);
        Assert.Null(versions[0].TaskScores);
        Assert.Equal([new("digit", 0.61, 0.79), new("bottom", 12.5, null)], versions[1].TaskScores!);
        Assert.Equal((VersionStates.Approved, "looks good", "trainer"), (versions[1].State, versions[1].StateReason, versions[1].CreatedBy));
        Assert.Equal(T0.AddMinutes(2), versions[1].CreatedAt);
        Assert.Equal(2UL, again.Latest("m")!.Version);
        Assert.Equal("sha-i-1", again.Version("m", 1)!.InferenceSha256);
        Assert.Null(again.Version("m", 3));
        Assert.Equal("""{"cohorts":1}""", again.Evaluation("m", 2));
        Assert.Equal("""{"f":[1]}""", again.Explanation("m", 2, "held-out"));
        Assert.Null(again.Explanation("m", 2, "federated"));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void RoundsAttemptsAndNotes_AreKept_AndARewrittenRoundReplacesTheOld(string engine)
    {
        using var stores = new TestStores(engine);
        using var registry = new ModelRegistry(stores.Databases.Open("registry.db", durable: true));
        Assert.Equal(0, registry.LastRound("m"));
        Assert.Equal(1, registry.BeginRoundAttempt("m", 1));
        Assert.Equal(2, registry.BeginRoundAttempt("m", 1));
        Assert.Equal(1, registry.BeginRoundAttempt("m", 2));
        registry.AddRound(new RoundRecord("m", 1, "r1", 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Abandoned, 10, 0, 0, 0, null, T0, T0.AddSeconds(5)));
        registry.AddRound(new RoundRecord("m", 1, "r1b", 1, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 10, 9, 900, 1, 2, T0, T0.AddSeconds(9), new Dictionary<string, double> { ["epsilon"] = 1.5, ["nan"] = double.NaN }));
        registry.AddRound(new RoundRecord("m", 2, "r2", 2, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 10, 8, 800, 0, 3, T0, T0.AddSeconds(9)));
        Assert.Equal(2, registry.LastRound("m"));
        var rounds = registry.Rounds("m");
        Assert.Equal(2, rounds.Count);
        Assert.Equal(("r1b", EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 9, 900L, 1L, (ulong?)2UL), (rounds[0].RoundId, rounds[0].Status, rounds[0].Contributors, rounds[0].Samples, rounds[0].Rejected, rounds[0].NewVersion));
        Assert.Equal(1.5, rounds[0].Notes!["epsilon"]);
        Assert.False(rounds[0].Notes!.ContainsKey("nan"));
        Assert.Null(rounds[1].Notes);
    }

    /// <summary>
    /// A fleet that trains for months reads its history a page or a row at a time — the API's pages, a card's round, a
    /// scrape's counts, the deployed version, the versions whose files are kept — the same on both engines.
    /// </summary>
    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void HistoryIsReadAPageOrARowAtATime_AndPrunedVersionsAreMarked(string engine)
    {
        using var stores = new TestStores(engine);
        using var registry = new ModelRegistry(stores.Databases.Open("registry.db", durable: false));
        registry.AddModel("m", "mlp-4-3", T0);
        for (ulong v = 1; v <= 30; v++)
        {
            registry.AddVersion(Version(v, 0.5));
            if (v > 1)
            {
                var status = v % 10 == 0 ? EdgeMlOps.Aggregator.Rounds.RoundStatus.Abandoned : EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed;
                registry.AddRound(new RoundRecord("m", (long)v - 1, $"r{v - 1}", v - 1, status, 10, 9, 900, 0, status == EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed ? v : null, T0, T0.AddSeconds(9),
                    v == 12 ? new Dictionary<string, double> { ["epsilon"] = 0.5 } : null));
            }
        }

        registry.SetState("m", 7, VersionStates.Deployed, "rolled out");
        registry.SetState("m", 4, VersionStates.Deployed, "earlier");
        Assert.Equal([26UL, 27UL, 28UL, 29UL, 30UL], registry.VersionsPage("m", 5, null).Select(v => v.Version));
        Assert.Equal([8UL, 9UL], registry.VersionsPage("m", 2, before: 10).Select(v => v.Version));
        Assert.Equal(30, registry.VersionsPage("m", EdgeMlOps.Aggregator.Http.ApiPage.DefaultSize, null).Count);
        Assert.Equal([27L, 28L, 29L], registry.RoundsPage("m", 3, null).Select(r => r.Round));
        Assert.Equal([1L, 2L], registry.RoundsPage("m", 5, before: 3).Select(r => r.Round));
        Assert.Equal(11L, registry.RoundOf("m", 12)!.Round);
        Assert.Null(registry.RoundOf("m", 10)); // its round was abandoned: no round made it
        Assert.Equal(11L, registry.LastRoundWithNotes("m")!.Round);
        Assert.Equal([("abandoned", 3L), ("completed", 26L)], registry.RoundCounts("m")); // rounds 9, 19 and 29 abandoned
        Assert.Equal(7UL, registry.LatestIn("m", VersionStates.Deployed)!.Version);
        Assert.Null(registry.LatestIn("m", VersionStates.Rejected));

        foreach (var v in new ulong[] { 2, 3, 4 })
        {
            registry.SaveReference("m", v, [1]);
            registry.SaveCohortReference("m", v, "eu", [2]);
        }

        registry.SavePredictionReference("m", 3, [3]);
        registry.MarkPruned("m", [2, 3], T0.AddDays(1));
        registry.MarkPruned("m", [3], T0.AddDays(2)); // marked once: the first time stays
        Assert.Equal(28, registry.KeptVersions("m").Count);
        Assert.Equal(T0.AddDays(1), registry.Version("m", 3)!.ArtifactsPrunedAt);
        Assert.Null(registry.Version("m", 4)!.ArtifactsPrunedAt);
        Assert.Equal([2UL, 3UL], registry.DeletePrunedProfiles("m")); // a pruned version's profiles go, every kind
        Assert.Equal([4UL], registry.References("m").Select(r => r.Version));
        Assert.Equal([4UL], registry.CohortReferences("m").Select(r => r.Version));
        Assert.Empty(registry.PredictionReferences("m"));
        Assert.Empty(registry.DeletePrunedProfiles("m"));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void RolloutsPipelineProfilesAndStrategyState_RoundTrip(string engine)
    {
        using var stores = new TestStores(engine);
        using var registry = new ModelRegistry(stores.Databases.Open("registry.db", durable: true));
        registry.SaveRollout("b", "m", 2, """{"id":"b"}""", "running", 0, 1, T0.AddSeconds(2));
        registry.SaveRollout("a", "m", 1, """{"id":"a"}""", "running", 0, 1, T0);
        registry.SaveRollout("a", "m", 1, """{"id":"a","stage":1}""", "completed", 1, 2, T0);
        Assert.Equal(["""{"id":"a","stage":1}""", """{"id":"b"}"""], registry.Rollouts("m"));

        registry.SavePipelineRun("p1", "m", T0, "one");
        registry.SavePipelineRun("p2", "m", T0.AddHours(1), "two");
        registry.SavePipelineRun("p1", "m", T0, "one, later");
        Assert.Equal(["two", "one, later"], registry.PipelineRuns("m", 10));
        Assert.Equal(["two"], registry.PipelineRuns("m", 1));

        Assert.Equal((false, (string?)null), registry.PipelinePaused("m"));
        registry.SetPipelinePolicy("m", "{policy}");
        registry.SetPipelinePaused("m", true, "alice");
        Assert.Equal((true, (string?)"alice"), registry.PipelinePaused("m"));
        Assert.Equal("{policy}", registry.PipelinePolicy("m"));
        registry.SetPipelinePolicy("m", null);
        Assert.Null(registry.PipelinePolicy("m"));
        Assert.True(registry.PipelinePaused("m").Paused);

        var profile = Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray();
        registry.SaveReference("m", 2, profile);
        registry.SaveReference("m", 1, [1, 2, 3]);
        registry.SaveReference("m", 1, [4]);
        var references = registry.References("m");
        Assert.Equal([1UL, 2UL], references.Select(r => r.Version));
        Assert.Equal([4], references[0].Profile);
        Assert.Equal(profile, references[1].Profile);
        registry.SaveCohortReference("m", 2, "south", profile);
        registry.SaveCohortReference("m", 2, "north", [5]);
        registry.SaveCohortReference("m", 2, "north", [6]);
        registry.SaveCohortReference("other", 2, "north", [7]);
        Assert.Equal([(2UL, "north"), (2UL, "south")], registry.CohortReferences("m").Select(r => (r.Version, r.Cohort)));
        Assert.Equal([6], registry.CohortReferences("m")[0].Profile);
        Assert.Equal(profile, registry.CohortReferences("m")[1].Profile);
        registry.SavePredictionReference("m", 3, [8]);
        registry.SavePredictionReference("m", 3, profile);
        registry.SavePredictionReference("other", 3, [9]);
        Assert.Equal(profile, Assert.Single(registry.PredictionReferences("m")).Profile);

        registry.SaveStrategyState("m", 3, [[1f, 2f], [float.MaxValue]]);
        var state = registry.LoadStrategyState("m", 3)!;
        Assert.Equal([1f, 2f], state[0]);
        Assert.Equal([float.MaxValue], state[1]);
        Assert.Null(registry.LoadStrategyState("m", 2));
    }
}
