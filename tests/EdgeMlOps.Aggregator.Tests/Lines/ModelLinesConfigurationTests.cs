using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// <c>Aggregator:Lines:NAME:...</c> as an operator types it: a line takes the fleet's settings with its own on top, read
/// by the same rules (its problems reported under its own keys), never the first model's file or interface, never a
/// fleet-wide setting of its own.
/// </summary>
public sealed class ModelLinesConfigurationTests
{
    private static AggregatorOptions Read(Dictionary<string, string?> values) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    private static IReadOnlyList<string> Errors(Dictionary<string, string?> values) => Assert.Throws<OptionsValidationException>(() => Read(values)).Errors;

    private static Dictionary<string, string?> Fleet(params (string Key, string Value)[] line)
    {
        var values = new Dictionary<string, string?>
        {
            ["Aggregator:Fleet"] = "plant", ["Aggregator:Model"] = "mlp-4-6-3", ["Aggregator:DataDirectory"] = "agg", ["Aggregator:Rounds:LocalEpochs"] = "3",
            ["Aggregator:Monitoring:WindowSeconds"] = "60",
        };
        foreach (var (key, value) in line) values[$"Aggregator:Lines:kws:{key}"] = value;
        return values;
    }

    [Fact]
    public void ALine_TakesTheFleetsSettingsWithItsOwnOnTop_ItsStoresAndKeysItsOwn_ItsRootTheFleets()
    {
        var options = Read(Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Cohort:mic", "yes, maybe"), ("MemoryMb", "96"), ("Rounds:LearningRate", "0.05")));
        Assert.Null(options.Line);
        var line = Assert.Single(options.Lines);
        Assert.Equal("kws", line.Name);
        Assert.Equal(["yes", "maybe"], line.Cohort["mic"]);
        Assert.Equal(96UL << 20, line.MemoryRequestBytes);
        Assert.Equal("kws", line.Options.Line);
        Assert.Equal("kws", line.Options.ModelName);
        Assert.Equal("plant", line.Options.Fleet);
        Assert.Equal("plant/kws", line.Options.ProtocolFleet);
        Assert.Equal("edgemlops/v1/plant/lines/kws/model", line.Options.Topics.Model);
        Assert.Equal(ModelSpec.Mlp(6, [8], 2), line.Options.Model);
        Assert.Equal(3, line.Options.Rounds.LocalEpochs); // the fleet's
        Assert.Equal(0.05f, line.Options.Rounds.LearningRate); // its own
        Assert.Equal(Path.Combine("agg", "lines", "kws"), line.Options.DataDirectory);
        Assert.Equal(Path.Combine("agg", "keys", "root.pk8"), line.Options.Trust.RootKeyFile);
        Assert.Equal("https://127.0.0.1:8444", line.Options.HttpUrl);
        Assert.Empty(line.Options.Lines);
        var entry = line.ToCatalogueEntry();
        Assert.Equal(["yes", "maybe"], entry.Cohort["mic"].Values);
    }

    [Fact]
    public void WhatBelongsToTheFleet_OrIsMissing_OrWrongInALine_IsReportedUnderTheLinesKeys()
    {
        var errors = Errors(Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Security:AllowPlaintext", "true"), ("Fleet", "other"), ("Rounds:Fraction", "7")));
        Assert.Contains(errors, e => e.StartsWith("Aggregator:Lines:kws:Security:AllowPlaintext: a fleet-wide setting: set Aggregator:Security once", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Aggregator:Lines:kws:Fleet: a fleet-wide setting", StringComparison.Ordinal));

        Assert.Contains(Errors(Fleet(("HttpUrl", "https://127.0.0.1:8444"))), e => e.StartsWith("Aggregator:Lines:kws:Model: required", StringComparison.Ordinal));
        Assert.Contains(Errors(Fleet(("Model", "mlp-6-8-2"))), e => e.StartsWith("Aggregator:Lines:kws:HttpUrl: required", StringComparison.Ordinal));
        Assert.Contains(Errors(Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Rounds:Fracton", "0.5"))), e => e.StartsWith("Aggregator:Lines:kws:Rounds:Fracton: not a setting", StringComparison.Ordinal));
        Assert.Contains(Errors(Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Rounds:LocalEpochs", "0"))), e => e.StartsWith("Aggregator:Lines:kws:Rounds:LocalEpochs:", StringComparison.Ordinal));
        Assert.Contains(Errors(Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8443"))), e => e.Contains("each model's API needs an address of its own, not 127.0.0.1:8443 for all", StringComparison.Ordinal));

        var replicas = Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"));
        replicas["Aggregator:Broker"] = "mqtts://broker:8883";
        replicas["Aggregator:Store:Engine"] = "postgresql";
        replicas["Aggregator:Store:ConnectionString"] = "Host=db;Username=u;Database=d";
        replicas["Aggregator:Store:LeaderLeaseSeconds"] = "10";
        replicas["Aggregator:Replicas:Name"] = "r1";
        replicas["Aggregator:Replicas:Members"] = "r1,r2";
        replicas["Aggregator:Strategy:Name"] = "fedavg";
        replicas["Aggregator:Lines:kws:Strategy:Name"] = "fedmedian"; // a rule replicas refuse: the line's updates are not shared
        var withReplicas = Read(replicas);
        Assert.True(withReplicas.Replicas.Enabled);
        var line = Assert.Single(withReplicas.Lines);
        Assert.False(line.Options.Replicas.Enabled); // its rule needs every update in one process: the coordinator takes them all
        replicas.Remove("Aggregator:Lines:kws:Strategy:Name");
        var shared = Assert.Single(Read(replicas).Lines).Options.Replicas; // a mean rule: spread over the replicas as the first model's
        Assert.Equal(("r1", "kws", "aggregator-replica-r1_kws"), (shared.Name, shared.Line, shared.Identity));
        Assert.Equal(0, line.Options.Store.LeaderLeaseSeconds); // the coordinator's lease covers it (and fences its versions)

        var edge = Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"));
        edge["Aggregator:Edge:Gateway"] = "site-1";
        edge["Aggregator:Edge:Upstream"] = "mqtts://upstream:8883";
        edge["Aggregator:Edge:Gateways:site-1"] = "cam-*";
        Assert.Equal("mlp-6-8-2", Assert.Single(Read(edge).Lines).Options.Model.ToString()); // a gateway reads the fleet's lines to fold their updates

        var firstName = Fleet();
        firstName["Aggregator:Lines:digits:Model"] = "mlp-6-8-2";
        Assert.Contains(Errors(firstName), e => e.StartsWith("Aggregator:Lines:digits: 'digits' cannot name a model line", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("..")] // DATA/lines/.. is the first model's data directory
    [InlineData(".")]
    [InlineData("-kws")]
    [InlineData("k ws")]
    [InlineData("kws\u00e9")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")] // 65: a certificate's common name, a schema name
    public void ALineName_IsLettersDigitsDashesAndUnderscores_SoItsDirectoryTopicAndIdentityAreItsOwn(string name)
    {
        var values = Fleet();
        values[$"Aggregator:Lines:{name}:Model"] = "mlp-6-8-2";
        values[$"Aggregator:Lines:{name}:HttpUrl"] = "https://127.0.0.1:8444";
        Assert.Contains(Errors(values), e => e == $"Aggregator:Lines:{name}: '{name}' cannot name a model line (1 to 64 letters, digits, '-' and '_', starting with a letter or digit; not the fleet's first model 'digits')");
        Assert.Null(ModelLinesConfiguration.NameProblem("kws_2-b", "digits"));
    }

    [Fact]
    public void OnPostgreSql_ALineKeepsItsTables_InASchemaOfItsOwn_OnTheFleetsDatabase()
    {
        var values = Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"));
        values["Aggregator:Store:Engine"] = "postgresql";
        values["Aggregator:Store:ConnectionString"] = "Host=db;Username=u;Database=d;Search Path=plant";
        values["Aggregator:Store:LeaderLeaseSeconds"] = "10";
        var store = Assert.Single(Read(values).Lines).Options.Store;
        Assert.Equal(EdgeMlOps.Aggregator.Storage.StoreEngine.PostgreSql, store.Engine);
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(store.ConnectionString);
        Assert.Equal(("db", "d", "plant_line_kws"), (connection.Host, connection.Database, connection.SearchPath));
        Assert.Equal(0, store.LeaderLeaseSeconds); // the fleet's lease covers the process its lines run in

        Assert.Equal("edgemlops_line_kws", EdgeMlOps.Aggregator.Storage.StoreOptions.LineSchema(null, "kws"));
        Assert.Equal("edgemlops_line_kws", EdgeMlOps.Aggregator.Storage.StoreOptions.LineSchema("\"$user\", public", "kws"));
        var odd = EdgeMlOps.Aggregator.Storage.StoreOptions.LineSchema("plant", "Kws-2");
        Assert.Matches("^plant_line_kws_2_[0-9a-f]{8}$", odd); // changed to fit: the line's hash keeps "kws_2" and "Kws-2" apart
        Assert.NotEqual(EdgeMlOps.Aggregator.Storage.StoreOptions.LineSchema("plant", "kws_2"), odd);
        Assert.True(EdgeMlOps.Aggregator.Storage.StoreOptions.LineSchema("plant", new string('a', 80)).Length <= 63);
    }

    [Fact]
    public void TheFirstModelsFileAndInterface_AreNotALinesUnlessItSaysSo()
    {
        var fixture = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_gru_keyword.onnx");
        var values = Fleet(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"));
        values["Aggregator:Model"] = "onnx:" + fixture;
        values["Aggregator:ModelInterface:Kind"] = "tensors";
        var options = Read(values);
        Assert.NotNull(options.ModelSource);
        var line = Assert.Single(options.Lines).Options;
        Assert.Null(line.ModelSource); // a generated MLP: nothing of the first model's file or its ModelInterface
        Assert.Equal(ModelSpec.Mlp(6, [8], 2), line.Model);
    }
}
