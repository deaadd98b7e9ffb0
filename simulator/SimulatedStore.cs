using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Aggregator.Storage;
using Npgsql;

namespace EdgeMlOps.Simulator;

/// <summary>
/// Where a simulated aggregator keeps its tables: SQLite files in the run's work directory, or (with
/// <c>--store-postgres</c>) a PostgreSQL schema of the run's own, named after the work directory — so, like the
/// files, it is new for every run, kept and resumed with a <c>--work-dir</c> the user names, and removed with a
/// temporary one.
/// </summary>
internal static class SimulatedStore
{
    public static StoreOptions Options(SimulationOptions options, string work)
    {
        if (options.StorePostgres is null) return new StoreOptions();
        var schema = SchemaOf(work);
        Execute(options.StorePostgres, $"CREATE SCHEMA IF NOT EXISTS {schema}");
        return new StoreOptions
        {
            Engine = StoreEngine.PostgreSql,
            ConnectionString = new NpgsqlConnectionStringBuilder(options.StorePostgres) { SearchPath = schema }.ConnectionString,
        };
    }

    /// <summary>Drops the run's schema and its model lines' (nothing with SQLite: the files go with the work directory).</summary>
    public static void Remove(SimulationOptions options, string work)
    {
        if (options.StorePostgres is null) return;
        try
        {
            NpgsqlConnection.ClearAllPools();
            Execute(options.StorePostgres, $"DROP SCHEMA IF EXISTS {SchemaOf(work)} CASCADE");
            foreach (var line in options.Lines) Execute(options.StorePostgres, $"DROP SCHEMA IF EXISTS {StoreOptions.LineSchema(SchemaOf(work), line.Name)} CASCADE"); // each line's beside it
        }
        catch (NpgsqlException)
        {
            // Left for the operator, as an undeletable work directory is.
        }
    }

    /// <summary>A schema name from the work directory's full path: a valid identifier, the same on every run with that directory.</summary>
    public static string SchemaOf(string work) =>
        "edgemlops_sim_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFullPath(work))))[..16];

    private static void Execute(string connectionString, string sql)
    {
        // Under its own application name: what the aggregator's connections go through (a test ending them) is not this.
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "edgemlops-simulator" }.ConnectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
