using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>Versioned schemas on both engines: applied once, refused when newer than the binary, upgraded from files written before migrations were recorded.</summary>
public sealed class SchemaMigrationsTests
{
    private static long Applied(StoreDatabases databases, string store)
    {
        using var database = databases.Open("registry.db", durable: true);
        using var session = database.Open();
        return session.Long("SELECT COUNT(*) FROM schema_migrations WHERE store = @s", ("@s", store));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void EachMigrationRunsOnce_AndReopeningAppliesNothing(string engine)
    {
        using var stores = new TestStores(engine);
        using (new ModelRegistry(stores.Databases.Open("registry.db", durable: true)))
        {
        }

        using (new ModelRegistry(stores.Databases.Open("registry.db", durable: true)))
        {
        }

        Assert.Equal(RegistrySchema.Migrations.Count, Applied(stores.Databases, "registry"));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public void TablesNewerThanThisBinary_AreRefusedWithWhatToDo(string engine)
    {
        using var stores = new TestStores(engine);
        using (new ModelRegistry(stores.Databases.Open("registry.db", durable: true)))
        {
        }

        using (var database = stores.Databases.Open("registry.db", durable: true))
        using (var session = database.Open())
        {
            session.Execute("INSERT INTO schema_migrations(store, version, description, applied_ms) VALUES ('registry', 99, 'from the future', 0)");
        }

        var refused = Assert.Throws<StoreException>(() => new ModelRegistry(stores.Databases.Open("registry.db", durable: true)));
        Assert.Contains("schema version 99", refused.Message, StringComparison.Ordinal);
        Assert.Contains("newer aggregator", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARegistryFileFromBeforeMigrations_IsUpgradedInPlace_KeepingItsRows()
    {
        var path = Path.Combine(AggregatorFixture.TempDirectory(), "registry.db");
        using (var legacy = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            legacy.Open();
            using var cmd = legacy.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE models(name TEXT PRIMARY KEY, spec TEXT NOT NULL, created_ms INTEGER NOT NULL);
                CREATE TABLE rounds(model TEXT NOT NULL, round INTEGER NOT NULL, round_id TEXT NOT NULL, base_version INTEGER NOT NULL, status TEXT NOT NULL,
                    selected INTEGER NOT NULL, contributors INTEGER NOT NULL, samples INTEGER NOT NULL, rejected INTEGER NOT NULL, new_version INTEGER,
                    started_ms INTEGER NOT NULL, ended_ms INTEGER NOT NULL, PRIMARY KEY(model, round));
                INSERT INTO models VALUES ('m', 'mlp-4-3', 0);
                INSERT INTO rounds VALUES ('m', 1, 'r1', 1, 'Completed', 3, 3, 30, 0, 2, 0, 1);
                """;
            cmd.ExecuteNonQuery();
        }

        using var registry = new ModelRegistry(path);
        Assert.Equal("mlp-4-3", registry.GetModelSpec("m"));
        Assert.Equal("r1", Assert.Single(registry.Rounds("m")).RoundId);
        registry.AddRound(new RoundRecord("m", 2, "r2", 2, EdgeMlOps.Aggregator.Rounds.RoundStatus.Completed, 3, 3, 30, 0, 3, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, new Dictionary<string, double> { ["epsilon"] = 2 }));
        Assert.Equal(2, registry.Rounds("m")[1].Notes!["epsilon"]);
    }

    [Fact]
    public async Task ReplicasStartingTogether_OnPostgreSql_MigrateOnce()
    {
        using var stores = new TestStores("postgresql");
        var replicas = Enumerable.Range(0, 4).Select(_ => stores.Reopen()).ToArray();
        try
        {
            var registries = await Task.WhenAll(replicas.Select(r => Task.Run(() => new ModelRegistry(r.Open("registry.db", durable: true)))));
            foreach (var registry in registries) registry.Dispose();
            Assert.Equal(RegistrySchema.Migrations.Count, Applied(stores.Databases, "registry"));
        }
        finally
        {
            foreach (var replica in replicas) replica.Dispose();
        }
    }

    [Fact]
    public void AConnectionDroppedInALaterMigration_KeepsTheEarlierOne_AndTheRetryResumesThere()
    {
        // What CI saw: a database dropping every connection each 100 ms stopped a start in its registry migrations,
        // which ran as one transaction that never fitted between two drops (5 attempts, each losing everything).
        using var stores = new TestStores("postgresql");
        using var database = stores.Databases.Open("registry.db", durable: true);
        int firstRuns = 0, secondRuns = 0;
        Migration[] migrations =
        [
            new(1, "a table", session =>
            {
                firstRuns++;
                session.Execute("CREATE TABLE resumed(id INTEGER PRIMARY KEY)");
            }),
            new(2, "drops its own connection the first time", session =>
            {
                if (++secondRuns == 1) session.Execute("SELECT pg_terminate_backend(pg_backend_pid())"); // 57P01, as a failover does
                session.Execute("ALTER TABLE resumed ADD COLUMN note TEXT");
            }),
        ];

        database.Migrate("resumed", migrations);

        Assert.Equal((1, 2), (firstRuns, secondRuns));
        Assert.Equal(2, Applied(stores.Databases, "resumed"));
    }

    [Fact]
    public void PostgreSqlSchema_MapsSqliteStorageClasses()
    {
        var ddl = "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, x REAL, b BLOB, s TEXT, interval_ms INTEGER) WITHOUT ROWID;";
        Assert.Equal(ddl, SqlDialect.Schema(ddl, StoreEngine.Sqlite));
        Assert.Equal(
            "CREATE TABLE t(id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, x DOUBLE PRECISION, b BYTEA, s TEXT, interval_ms BIGINT);",
            SqlDialect.Schema(ddl, StoreEngine.PostgreSql));
    }

    [Fact]
    public void ConfigurationChoosesTheEngine_AndSaysWhatIsMissing()
    {
        var missing = Assert.Throws<Shared.Configuration.OptionsValidationException>(() => AggregatorOptions.FromConfiguration(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Aggregator:Store:Engine"] = "postgresql" }).Build()));
        Assert.Contains(missing.Errors, e => e.Contains("Aggregator:Store:ConnectionString", StringComparison.Ordinal));
        var typo = Assert.Throws<Shared.Configuration.OptionsValidationException>(() => AggregatorOptions.FromConfiguration(
            new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Aggregator:Store:Engine"] = "mysql" }).Build()));
        Assert.Contains(typo.Errors, e => e.Contains("'mysql' is neither", StringComparison.Ordinal));
        var chosen = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Aggregator:Store:Engine"] = "postgresql",
            ["Aggregator:Store:ConnectionString"] = "Host=db;Username=edgemlops;Database=edgemlops",
        }).Build());
        Assert.Equal(StoreEngine.PostgreSql, chosen.Store.Engine);
    }
}
