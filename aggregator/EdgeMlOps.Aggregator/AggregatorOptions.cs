using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator;

/// <summary>How rounds select devices, wait and train. Section <c>Aggregator:Rounds</c>.</summary>
public sealed record RoundOptions
{
    /// <summary>Share C of eligible devices that should report per round (McMahan et al.: 0.1).</summary>
    public double Fraction { get; init; } = 0.1;

    /// <summary>If positive, a fixed number of reports per round instead of <see cref="Fraction"/>.</summary>
    public int ClientsPerRound { get; init; }

    /// <summary>Devices needed online before a round starts.</summary>
    public int MinDevices { get; init; } = 1;

    /// <summary>Select this many times the target, so dropouts do not starve the round (Bonawitz et al.: ~1.3).</summary>
    public double OverSelection { get; init; } = 1.3;

    /// <summary>Share of the target that must report by the deadline, or the round is abandoned.</summary>
    public double MinQuorum { get; init; } = 0.5;

    public TimeSpan ReportDeadline { get; init; } = TimeSpan.FromSeconds(60);

    public int LocalEpochs { get; init; } = 5;

    public int BatchSize { get; init; } = 10;

    public float LearningRate { get; init; } = 0.05f;

    /// <summary>0 trains on every local sample.</summary>
    public int MaxSamplesPerDevice { get; init; }

    /// <summary>Server learning rate applied to the averaged delta (1 = plain FedAvg).</summary>
    public double ServerLearningRate { get; init; } = 1.0;

    /// <summary>The host's loop stops after this many rounds (0 = run forever).</summary>
    public int MaxRounds { get; init; }

    /// <summary>Pause between rounds in the host's loop.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Aggregator settings. Section <c>Aggregator</c>.</summary>
public sealed record AggregatorOptions
{
    public const string Section = "Aggregator";

    public string Fleet { get; init; } = "default";

    public string ModelName { get; init; } = "digits";

    /// <summary>Architecture of a model created on first start, e.g. <c>mlp-784-128-10</c>.</summary>
    public ModelSpec Model { get; init; } = ModelSpec.Mlp(784, [128], 10);

    /// <summary>An external broker, or null to start the embedded MQTTnet broker.</summary>
    public MqttEndpoint? ExternalBroker { get; init; }

    public int EmbeddedBrokerPort { get; init; } = 1883;

    /// <summary>Interface the embedded broker binds to (loopback by default; 0.0.0.0 in a container).</summary>
    public System.Net.IPAddress BrokerBindAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>Where the artifact/HTTP API listens, e.g. <c>http://127.0.0.1:8080</c> (port 0 = any free port).</summary>
    public string HttpUrl { get; init; } = "http://127.0.0.1:8080";

    /// <summary>Base URL devices use to download artifacts; defaults to the bound HTTP address.</summary>
    public Uri? PublicBaseUrl { get; init; }

    public string DataDirectory { get; init; } = "aggregator-data";

    public int Seed { get; init; } = 1;

    public RoundOptions Rounds { get; init; } = new();

    public static AggregatorOptions FromConfiguration(IConfiguration configuration)
    {
        var r = new ConfigReader(configuration, Section);
        var fleet = r.String(nameof(Fleet), "default");
        r.Require(Topics.IsValidSegment(fleet), nameof(Fleet), $"'{fleet}' is not a valid fleet name");
        var modelName = r.String(nameof(ModelName), "digits");
        r.Require(Topics.IsValidSegment(modelName), nameof(ModelName), $"'{modelName}' is not a valid model name");
        var modelText = r.String(nameof(Model), "mlp-784-128-10");
        ModelSpec model = ModelSpec.Mlp(784, [128], 10);
        try
        {
            model = ModelSpecText.Parse(modelText);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            r.Require(false, nameof(Model), ex.Message);
        }

        var brokerText = r.String("Broker", "embedded");
        MqttEndpoint? external = null;
        r.Require(brokerText == "embedded" || MqttEndpoint.TryParse(brokerText, out external!), "Broker", $"'{brokerText}' is neither 'embedded' nor an mqtt://host:port URL");
        var bindText = r.String(nameof(BrokerBindAddress), "127.0.0.1");
        r.Require(System.Net.IPAddress.TryParse(bindText, out var bind), nameof(BrokerBindAddress), $"'{bindText}' is not an IP address");
        var httpUrl = r.String(nameof(HttpUrl), "http://127.0.0.1:8080");
        r.Require(Uri.TryCreate(httpUrl, UriKind.Absolute, out var http) && http.Scheme is "http" or "https", nameof(HttpUrl), $"'{httpUrl}' is not an http(s) URL");
        var publicText = r.OptionalString(nameof(PublicBaseUrl));
        Uri? publicBase = null;
        r.Require(publicText is null || Uri.TryCreate(publicText, UriKind.Absolute, out publicBase), nameof(PublicBaseUrl), $"'{publicText}' is not an absolute URL");

        var rounds = new RoundOptions
        {
            Fraction = r.Double("Rounds:Fraction", 0.1, 0, 1),
            ClientsPerRound = r.Int("Rounds:ClientsPerRound", 0, 0, 1_000_000),
            MinDevices = r.Int("Rounds:MinDevices", 1, 1, 10_000_000),
            OverSelection = r.Double("Rounds:OverSelection", 1.3, 1, 10),
            MinQuorum = r.Double("Rounds:MinQuorum", 0.5, 0, 1),
            ReportDeadline = TimeSpan.FromSeconds(r.Double("Rounds:ReportDeadlineSeconds", 60, 0.1, 86_400)),
            LocalEpochs = r.Int("Rounds:LocalEpochs", 5, 1, 1000),
            BatchSize = r.Int("Rounds:BatchSize", 10, 1, 100_000),
            LearningRate = (float)r.Double("Rounds:LearningRate", 0.05, 1e-9, 100),
            MaxSamplesPerDevice = r.Int("Rounds:MaxSamplesPerDevice", 0, 0, int.MaxValue),
            ServerLearningRate = r.Double("Rounds:ServerLearningRate", 1.0, 1e-6, 100),
            MaxRounds = r.Int("Rounds:MaxRounds", 0, 0, int.MaxValue),
            Interval = TimeSpan.FromSeconds(r.Double("Rounds:IntervalSeconds", 5, 0, 86_400)),
        };
        r.Require(rounds.Fraction > 0 || rounds.ClientsPerRound > 0, "Rounds:Fraction", "must be positive unless Rounds:ClientsPerRound is set");

        var options = new AggregatorOptions
        {
            Fleet = fleet,
            ModelName = modelName,
            Model = model,
            ExternalBroker = external,
            EmbeddedBrokerPort = r.Int(nameof(EmbeddedBrokerPort), 1883, 0, 65_535),
            BrokerBindAddress = bind ?? System.Net.IPAddress.Loopback,
            HttpUrl = httpUrl,
            PublicBaseUrl = publicBase,
            DataDirectory = r.String(nameof(DataDirectory), "aggregator-data"),
            Seed = r.Int(nameof(Seed), 1),
            Rounds = rounds,
        };
        r.ThrowIfInvalid("aggregator");
        return options;
    }
}
