using EdgeMlOps.Aggregator.Storage;

namespace EdgeMlOps.Aggregator.Tests.Storage;

/// <summary>The databases of one test on one engine: SQLite files in a fresh directory, or a fresh PostgreSQL schema.</summary>
internal sealed class TestStores : IDisposable
{
    private readonly TestPostgres? _postgres;

    /// <summary>The PostgreSQL schema, when the engine is PostgreSQL.</summary>
    public TestPostgres Postgres => _postgres ?? throw new InvalidOperationException("not a PostgreSQL test");

    public TestStores(string engine)
    {
        Directory = AggregatorFixture.TempDirectory();
        System.IO.Directory.CreateDirectory(Directory);
        if (engine == "postgresql") _postgres = new TestPostgres();
        Options = _postgres?.Options ?? new StoreOptions();
        Databases = new StoreDatabases(Options, Directory);
    }

    /// <summary>Both engines, for theories.</summary>
    public static TheoryData<string> Engines => new() { "sqlite", "postgresql" };

    public string Directory { get; }

    public StoreOptions Options { get; }

    public StoreDatabases Databases { get; }

    /// <summary>Another process's view of the same tables (an aggregator replica, or the same one after a restart).</summary>
    public StoreDatabases Reopen() => new(Options, Directory);

    public void Dispose()
    {
        Databases.Dispose();
        _postgres?.Dispose();
    }
}
