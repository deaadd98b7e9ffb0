using EdgeMlOps.Agent.Storage;

namespace EdgeMlOps.Agent.Tests.Storage;

public class SampleStoreTests
{
    private static string TempDb() => Path.Combine(Path.GetTempPath(), "edgemlops-store-" + Guid.NewGuid().ToString("N"), "agent.db");

    [Fact]
    public void AddSamples_BeyondBound_DropsOldestFirst()
    {
        using var store = new SampleStore(TempDb(), maxSamples: 5, maxPendingPredictions: 10);
        store.AddSamples(Enumerable.Range(0, 8).Select(i => (new[] { (float)i, 0f }, (long)i)).ToArray());
        Assert.Equal(5, store.SampleCount);
        var set = store.LoadSamples(2);
        Assert.Equal(new long[] { 7, 6, 5, 4, 3 }, set.Labels);
        Assert.Equal(7f, set.Features[0]);
    }

    [Fact]
    public void LoadSamples_IgnoresRowsOfAnotherWidth_AndHonoursMax()
    {
        using var store = new SampleStore(TempDb(), 100, 10);
        store.AddSamples([(new[] { 1f, 2f }, 1L), (new[] { 1f, 2f, 3f }, 2L), (new[] { 4f, 5f }, 3L)]);
        Assert.Equal(new long[] { 3, 1 }, store.LoadSamples(2).Labels);
        Assert.Equal(new long[] { 3 }, store.LoadSamples(2, max: 1).Labels);
    }

    /// <summary>A streaming model's rows hold the state a version made: loading for a version keeps only its rows; without one, every row.</summary>
    [Fact]
    public void RowsHoldingAVersionsState_AreLoadedForThatVersionOnly()
    {
        using var store = new SampleStore(TempDb(), 100, 10);
        store.AddSamples([(new[] { 1f, 1f }, 1)], stateVersion: 1);
        store.AddSamples([(new[] { 2f, 2f }, 2), (new[] { 3f, 3f }, 3)], stateVersion: 2);
        store.AddTargets([(new[] { 4f, 4f }, new[] { 0.5f })], stateVersion: 2);
        store.AddSamples([(new[] { 5f, 5f }, 5)]);
        Assert.Equal(new long[] { 3, 2 }, store.LoadSamples(2, stateVersion: 2).Labels);
        Assert.Equal(new long[] { 1 }, store.LoadSamples(2, stateVersion: 1).Labels);
        Assert.Equal(new long[] { 5, 3, 2, 1 }, store.LoadSamples(2).Labels);
        Assert.Equal(new[] { 0.5f }, store.LoadTargets(2, 1, stateVersion: 2).Targets);
        Assert.Empty(store.LoadTargets(2, 1, stateVersion: 1).Labels);
    }

    [Fact]
    public void ARegressorsTargets_AreKeptBesideTheirSamples_ApartFromClassLabels_AlsoInAStoreWrittenBeforeTargets()
    {
        // A store from before targets existed: the old schema, one labelled sample in it.
        var path = TempDb();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using (var old = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            old.Open();
            using var create = old.CreateCommand();
            create.CommandText = """
                CREATE TABLE samples(id INTEGER PRIMARY KEY AUTOINCREMENT, features BLOB NOT NULL, label INTEGER NOT NULL, created_ms INTEGER NOT NULL);
                INSERT INTO samples(features, label, created_ms) VALUES (x'0000803F00000040', 1, 0);
                """;
            create.ExecuteNonQuery();
        }

        using var store = new SampleStore(path, maxSamples: 4, maxPendingPredictions: 10);
        store.AddTargets([(new[] { 3f, 4f }, new[] { 0.5f }), (new[] { 5f, 6f }, new[] { 1.5f }), (new[] { 7f, 8f }, new[] { 1f, 2f })]);
        Assert.Equal(new long[] { 1 }, store.LoadSamples(2).Labels); // class labels only
        var regression = store.LoadTargets(2, 1);
        Assert.Equal((2, 1), (regression.Count, regression.TargetWidth));
        Assert.Equal(new[] { 1.5f, 0.5f }, regression.Targets);
        Assert.Equal(new[] { 5f, 6f, 3f, 4f }, regression.Features);
        Assert.Equal(new[] { 1f, 2f }, store.LoadTargets(2, 2).Targets); // another width is another model's

        // The retention bound counts every sample: two more push the oldest out, label or target alike.
        store.AddTargets([(new[] { 9f, 9f }, new[] { 2.5f }), (new[] { 9f, 9f }, new[] { 3.5f })]);
        Assert.Equal(4, store.SampleCount);
        Assert.Empty(store.LoadSamples(2).Labels);
        Assert.Equal(new[] { 3.5f, 2.5f, 1.5f }, store.LoadTargets(2, 1).Targets);
    }

    [Fact]
    public void Prediction_CanBeLabelledOnce_ThenIsGone()
    {
        using var store = new SampleStore(TempDb(), 100, 2);
        store.AddPrediction("p1", [1f, 2f], 0, 1);
        Assert.Equal(new[] { 1f, 2f }, store.TakePrediction("p1"));
        Assert.Null(store.TakePrediction("p1"));
        Assert.Null(store.TakePrediction("never"));

        // Bounded: the oldest pending predictions expire when the buffer is written out.
        store.AddPrediction("a", [1f], 0, 1);
        store.AddPrediction("b", [2f], 0, 1);
        store.AddPrediction("c", [3f], 0, 1);
        store.FlushPredictions();
        Assert.Null(store.TakePrediction("a"));
        Assert.Equal(new[] { 2f }, store.TakePrediction("b"));
        Assert.NotNull(store.TakePrediction("c"));
    }

    [Fact]
    public void Store_SurvivesReopen()
    {
        var path = TempDb();
        using (var store = new SampleStore(path, 100, 10))
        {
            store.AddSamples([(new[] { 9f }, 4L)]);
            store.AddPrediction("p", [7f], 0, 1); // buffered: written out when the store closes
        }

        using var reopened = new SampleStore(path, 100, 10);
        Assert.Equal(1, reopened.SampleCount);
        Assert.Equal(new[] { 7f }, reopened.TakePrediction("p"));
    }
}

public class SampleRetentionByAgeTests
{
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void SamplesOlderThanTheBound_AreDeletedOnTheNextWrite()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var path = Path.Combine(Path.GetTempPath(), "edgemlops-age-" + Guid.NewGuid().ToString("N"), "agent.db");
        using var store = new EdgeMlOps.Agent.Storage.SampleStore(path, 100, 10, clock, maxSampleAge: TimeSpan.FromDays(7));
        store.AddSamples([(new[] { 1f }, 1L)]);
        clock.Now = clock.Now.AddDays(6);
        store.AddSamples([(new[] { 2f }, 2L)]);
        Assert.Equal(2, store.SampleCount);
        clock.Now = clock.Now.AddDays(2);
        store.AddSamples([(new[] { 3f }, 3L)]);
        Assert.Equal(new long[] { 3, 2 }, store.LoadSamples(1).Labels);
    }
}
