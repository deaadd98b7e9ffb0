using EdgeMlOps.Aggregator.Storage;
using Npgsql;

namespace EdgeMlOps.Tests;

/// <summary>
/// A PostgreSQL schema of its own for one test (dropped on dispose with the model lines' schemas named after it), on the server <c>.ci/run</c> starts — or the one
/// <c>EDGEMLOPS_TEST_POSTGRES</c> names (an Npgsql connection string).
/// </summary>
internal sealed class TestPostgres : IDisposable
{
    public const string Variable = "EDGEMLOPS_TEST_POSTGRES";
    private const string CiServer = "Host=127.0.0.1;Username=edgemlops;Password=edgemlops;Database=edgemlops_test";

    private readonly string _server = Server;
    private readonly string _schema = "t_" + Guid.NewGuid().ToString("N")[..16];

    public TestPostgres()
    {
        try
        {
            Admin($"CREATE SCHEMA {_schema}");
        }
        catch (NpgsqlException ex)
        {
            throw new InvalidOperationException(
                $"PostgreSQL is not reachable at '{new NpgsqlConnectionStringBuilder(_server) { Password = null }}' ({ex.Message}); .ci/run installs and starts it, or set {Variable}", ex);
        }

        ConnectionString = new NpgsqlConnectionStringBuilder(_server) { SearchPath = _schema, ApplicationName = _schema }.ConnectionString;
    }

    /// <summary>The test server's database (its default schema).</summary>
    public static string Server => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } configured ? configured : CiServer;

    /// <summary>Connects to the test's own schema.</summary>
    public string ConnectionString { get; }

    public StoreOptions Options => new() { Engine = StoreEngine.PostgreSql, ConnectionString = ConnectionString };

    /// <summary>What a failover does to the test's stores: the server ends every connection they hold (pooled or busy).</summary>
    public int DropConnections() => DropConnections(_schema);

    /// <summary>Ends every connection whose application name is <paramref name="applicationName"/>; how many there were.</summary>
    public static int DropConnections(string applicationName)
    {
        using var connection = new NpgsqlConnection(Server);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = @a AND pid <> pg_backend_pid()";
        cmd.Parameters.AddWithValue("a", applicationName);
        return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        Admin($"DROP SCHEMA IF EXISTS {_schema} CASCADE");
        foreach (var line in Schemas($"{_schema}_line_")) Admin($"DROP SCHEMA IF EXISTS {line} CASCADE");
    }

    /// <summary>The schemas whose names begin with <paramref name="prefix"/>.</summary>
    public IReadOnlyList<string> Schemas(string prefix)
    {
        using var connection = new NpgsqlConnection(_server);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, @p) ORDER BY nspname";
        cmd.Parameters.AddWithValue("p", prefix);
        using var reader = cmd.ExecuteReader();
        var names = new List<string>();
        while (reader.Read()) names.Add(reader.GetString(0));
        return names;
    }

    /// <summary>The test's own schema.</summary>
    public string Schema => _schema;

    private int Admin(string sql)
    {
        using var connection = new NpgsqlConnection(_server);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteNonQuery();
    }
}
