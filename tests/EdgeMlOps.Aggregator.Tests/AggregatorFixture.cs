using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Tests;

internal static class AggregatorFixture
{
    public static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-4-3-2");

    public static AggregatorOptions Options(string dataDirectory, int clients, double deadlineSeconds = 20, double quorum = 1.0) => new()
    {
        Fleet = "test",
        ModelName = "tiny",
        Model = Spec,
        EmbeddedBrokerPort = 0,
        HttpUrl = "http://127.0.0.1:0",
        DataDirectory = dataDirectory,
        Seed = 3,
        Rounds = new RoundOptions
        {
            ClientsPerRound = clients,
            OverSelection = 1.0,
            MinQuorum = quorum,
            ReportDeadline = TimeSpan.FromSeconds(deadlineSeconds),
            LocalEpochs = 1,
            BatchSize = 4,
            LearningRate = 0.1f,
        },
        Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions { Identities = [ViewerIdentity] },
    };

    /// <summary>The tests' read-only admin identity (<see cref="Viewer"/>).</summary>
    public static EdgeMlOps.Aggregator.Governance.AdminIdentity ViewerIdentity => new(Viewer.Name, EdgeMlOps.Aggregator.Governance.AdminIdentity.HashToken(Viewer.Token), new HashSet<string> { EdgeMlOps.Aggregator.Governance.AdminRoles.Viewer });

    public static string TempDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "edgemlops-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }
}
