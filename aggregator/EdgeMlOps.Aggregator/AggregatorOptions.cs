using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Tensors;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Training;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator;

/// <summary>Aggregator settings. Section <c>Aggregator</c>.</summary>
public sealed partial record AggregatorOptions
{
    public const string Section = "Aggregator";

    /// <summary>
    /// Checks options however they were made (configuration, the simulator, a test): the same rules as
    /// <see cref="FromConfiguration"/> for rounds and strategy, every problem listed in one exception.
    /// </summary>
    public void Validate()
    {
        var errors = Rounds.Problems().Select(p => $"{Section}:{p.Key}: {p.Problem}")
            .Concat(Strategy.Errors().Select(e => $"{Section}:{e}"))
            .Concat(PipelineProblems().Select(p => $"{Section}:{p.Key}: {p.Problem}"))
            .Concat(Security.Problems().Select(p => $"{Section}:{p.Key}: {p.Problem}"))
            .Concat(Replicas.Problems(Store, Rounds.Mode, Strategy, Model).Select(p => $"{Section}:{p.Key}: {p.Problem}"))
            .Concat(Edge.Problems().Select(p => $"{Section}:{p.Key}: {p.Problem}"))
            .Concat(Registry.Problems().Concat(Devices.Problems()).Select(p => $"{Section}:{p.Key}: {p.Problem}"))
            .ToList();
        if (errors.Count > 0) throw new OptionsValidationException("aggregator", errors);
    }

    /// <summary>The pipeline's policy problems, and the settings it cannot run with (auto mode; RetrainOn's own rounds).</summary>
    private IEnumerable<(string Key, string Problem)> PipelineProblems()
    {
        foreach (var error in Pipeline.Errors())
        {
            var at = error.IndexOf(": ", StringComparison.Ordinal);
            yield return (error[..at], error[(at + 2)..]);
        }

        if (ModelSource is { } source && !source.Spec.Equals(Model))
        {
            yield return (nameof(Model), $"{Model} is not the uploaded file's {source.Spec} (set Model to ModelSource.Spec)");
        }

        if (!Model.IsClassifier && EvaluationDataFile is not null)
        {
            yield return ("Evaluation:DataFile", "held-out accuracy needs a classifier; a model served by tensor names (ModelInterface:Kind=tensors) is judged by its callers' latency and errors");
        }

        if (Monitoring.CohortReferences && Monitoring.CohortTag is null)
        {
            yield return ("Monitoring:CohortReferences", "per-cohort references need Monitoring:CohortTag (the device tag that names a cohort)");
        }

        if (Pipeline.Enabled && Governance.Mode != EdgeMlOps.Aggregator.Governance.DeploymentMode.Governed)
        {
            yield return ("Pipeline:Enabled", "the retraining pipeline needs Governance:Mode=governed (in auto mode every version is served fleet-wide at once, with no gates or shadow)");
        }

        if (Pipeline.Enabled && Rounds.Mode != RoundMode.Synchronous)
        {
            yield return ("Rounds:Mode", "the retraining pipeline trains synchronous rounds; buffered (FedBuff) versions would run beside it");
        }

        if (Pipeline.Enabled && Monitoring.RetrainOn != EdgeMlOps.Aggregator.Monitoring.RetrainTrigger.Off)
        {
            yield return ("Monitoring:RetrainOn", $"'{Monitoring.RetrainOn.ToString().ToLowerInvariant()}' starts rounds of its own; with Pipeline:Enabled the pipeline's triggers decide (set RetrainOn=off)");
        }
    }

    public string Fleet { get; init; } = "default";

    public string ModelName { get; init; } = "digits";

    /// <summary>The model line these options run (<see cref="EdgeMlOps.Aggregator.Lines.ModelLineOptions"/>), or null for the fleet's first model.</summary>
    public string? Line { get; init; }

    /// <summary>The fleet's further models (<c>Aggregator:Lines:NAME:...</c>), each run beside the first with its own registry, rounds and rollouts.</summary>
    public IReadOnlyList<EdgeMlOps.Aggregator.Lines.ModelLineOptions> Lines { get; init; } = [];

    /// <summary>The configuration these options were read from (a line added at run time is read over it), or null when made in code.</summary>
    public IConfiguration? Configuration { get; init; }

    /// <summary>The store of lines added at run time as <see cref="Lines"/> were read from it (<see cref="Lines.FleetLines.ReadIfChanged"/>): read again only when it changed.</summary>
    internal string? KeptLines { get; init; }

    /// <summary>This model's topics: the fleet's, or its line's.</summary>
    public Topics Topics => new(Fleet, Line);

    /// <summary>What this model's signed statements and headers carry as their fleet (<see cref="Topics.ProtocolFleet"/>).</summary>
    public string ProtocolFleet => Topics.ProtocolFleet;

    /// <summary>Architecture of a model created on first start, e.g. <c>mlp-784-128-10</c>, or of <see cref="ModelSource"/>.</summary>
    public ModelSpec Model { get; init; } = ModelSpec.Mlp(784, [128], 10);

    /// <summary>The uploaded ONNX classifier the fleet serves and fine-tunes (its spec is <see cref="Model"/>), or null for a generated dense one.</summary>
    public UploadedClassifier? ModelSource { get; init; }

    /// <summary>An external broker, or null to start the embedded MQTTnet broker.</summary>
    public MqttEndpoint? ExternalBroker { get; init; }

    /// <summary>How long the start keeps trying an external broker it cannot reach yet before it stops with exit code 2 (<c>BrokerStartupWaitSeconds</c>, 0 to 600).</summary>
    public double BrokerStartupWaitSeconds { get; init; } = DefaultBrokerStartupWaitSeconds;

    /// <summary>The default <see cref="BrokerStartupWaitSeconds"/>: as long as the store's (<c>Store:StartupWaitSeconds</c>).</summary>
    public const double DefaultBrokerStartupWaitSeconds = Storage.StoreOptions.DefaultStartupWaitSeconds;

    /// <summary>Port of the embedded broker: TLS with client certificates (8883), or plain TCP when <see cref="Security.SecurityOptions.AllowPlaintext"/>.</summary>
    public int EmbeddedBrokerPort { get; init; } = Runtime.Mqtt.MqttEndpoint.DefaultTlsPort;

    /// <summary>Device identity, enrollment and broker authentication.</summary>
    public Security.SecurityOptions Security { get; init; } = new();

    /// <summary>Interface the embedded broker binds to (loopback by default; 0.0.0.0 in a container).</summary>
    public System.Net.IPAddress BrokerBindAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>Where the artifact/HTTP API listens, e.g. <c>https://127.0.0.1:8443</c> (port 0 = any free port; <c>http://</c> for development only).</summary>
    public string HttpUrl { get; init; } = DefaultHttpUrl;

    /// <summary>The API's default listener: HTTPS with a certificate from the fleet CA (enrollment tokens and admin tokens never travel in the clear).</summary>
    public const string DefaultHttpUrl = "https://127.0.0.1:8443";

    /// <summary>Base URL devices use to download artifacts; defaults to the bound HTTP address.</summary>
    public Uri? PublicBaseUrl { get; init; }

    public string DataDirectory { get; init; } = DefaultDataDirectory;

    public const string DefaultDataDirectory = "aggregator-data";

    /// <summary>Where the tables live: SQLite files in <see cref="DataDirectory"/> (default) or PostgreSQL.</summary>
    public Storage.StoreOptions Store { get; init; } = new();

    /// <summary>What the registry keeps on disk: the artifacts of how many versions (<c>Aggregator:Registry:KeepVersions</c>).</summary>
    public Registry.RegistryOptions Registry { get; init; } = new();

    /// <summary>How long devices no longer heard from are remembered (<c>Aggregator:Devices:ForgetAfterDays</c>).</summary>
    public Fleet.DeviceOptions Devices { get; init; } = new();

    /// <summary>Aggregator replicas sharing the fleet's rounds (off unless <c>Replicas:Name</c> is set).</summary>
    public Replicas.ReplicaOptions Replicas { get; init; } = new();

    /// <summary>The edge tier: which devices each gateway speaks for (none by default), and when a gateway sends its partial.</summary>
    public Edge.EdgeOptions Edge { get; init; } = new();

    public int Seed { get; init; } = 1;

    public RoundOptions Rounds { get; init; } = new();

    /// <summary>How rounds combine updates (FedAvg, FedProx, FedAdam, median, Krum, DP, compression, …).</summary>
    public StrategyOptions Strategy { get; init; } = new();

    /// <summary>Reporting windows, cohorts and drift tests.</summary>
    public Monitoring.MonitoringOptions Monitoring { get; init; } = new();

    /// <summary>The automated retraining pipeline's policy (off unless <c>Pipeline:Enabled</c>).</summary>
    public Pipeline.PipelinePolicy Pipeline { get; init; } = new();

    /// <summary>Root and signing keys, manifest lifetime.</summary>
    public Trust.TrustOptions Trust { get; init; } = new();

    /// <summary>Registry states, validation gates, deployment mode, admin identities.</summary>
    public Governance.GovernanceOptions Governance { get; init; } = new();

    /// <summary>A JSON-lines file of held-out labelled samples the host evaluates every version on (validation gates, cards), or null.</summary>
    public string? EvaluationDataFile { get; init; }

    /// <summary>The fleet's options; its lines are those configured and those added at run time (<see cref="Lines.FleetLines"/>). Throws listing every problem.</summary>
    public static AggregatorOptions FromConfiguration(IConfiguration configuration) => Read(configuration, withLines: true);

    /// <summary>One model line's options from its settings (the fleet's with the line's on top): a line has no lines.</summary>
    internal static AggregatorOptions LineFromConfiguration(IConfiguration configuration) => Read(configuration, withLines: false);

    private static AggregatorOptions Read(IConfiguration configuration, bool withLines)
    {
        var r = new ConfigReader(configuration, Section);
        var fleet = r.String(nameof(Fleet), "default");
        r.Require(Topics.IsValidSegment(fleet), nameof(Fleet), $"'{fleet}' is not a valid fleet name");
        var modelName = r.String(nameof(ModelName), "digits");
        r.Require(Topics.IsValidSegment(modelName), nameof(ModelName), $"'{modelName}' is not a valid model name");
        var (model, source) = ReadModel(r);

        var brokerText = r.String("Broker", "embedded");
        MqttEndpoint? external = null;
        r.Require(brokerText == "embedded" || MqttEndpoint.TryParse(brokerText, out external!), "Broker", $"'{brokerText}' is neither 'embedded' nor an mqtts://host:port (or mqtt://) URL");
        var bindText = r.String(nameof(BrokerBindAddress), "127.0.0.1");
        r.Require(System.Net.IPAddress.TryParse(bindText, out var bind), nameof(BrokerBindAddress), $"'{bindText}' is not an IP address");
        var httpUrl = r.String(nameof(HttpUrl), DefaultHttpUrl);
        r.Require(Uri.TryCreate(httpUrl, UriKind.Absolute, out var http) && http.Scheme is "http" or "https", nameof(HttpUrl), $"'{httpUrl}' is not an http(s) URL");
        var publicText = r.OptionalString(nameof(PublicBaseUrl));
        Uri? publicBase = null;
        r.Require(publicText is null || Uri.TryCreate(publicText, UriKind.Absolute, out publicBase), nameof(PublicBaseUrl), $"'{publicText}' is not an absolute URL");

        // Defaults are the record's; ranges are RoundOptions.Problems(), the same rules options built in code pass.
        var defaults = new RoundOptions();
        var modeText = r.String("Rounds:Mode", "synchronous");
        r.Require(modeText is "synchronous" or "buffered", "Rounds:Mode", $"'{modeText}' is neither 'synchronous' nor 'buffered'");
        var rounds = new RoundOptions
        {
            Fraction = r.Double("Rounds:Fraction", defaults.Fraction),
            ClientsPerRound = r.Int("Rounds:ClientsPerRound", defaults.ClientsPerRound),
            MinDevices = r.Int("Rounds:MinDevices", defaults.MinDevices),
            OverSelection = r.Double("Rounds:OverSelection", defaults.OverSelection),
            AdaptiveOverSelection = r.Bool("Rounds:AdaptiveOverSelection", defaults.AdaptiveOverSelection),
            MaxOverSelection = r.Double("Rounds:MaxOverSelection", defaults.MaxOverSelection),
            TargetConfidence = r.Double("Rounds:TargetConfidence", defaults.TargetConfidence),
            MinQuorum = r.Double("Rounds:MinQuorum", defaults.MinQuorum),
            ReportDeadline = TimeSpan.FromSeconds(r.Double("Rounds:ReportDeadlineSeconds", defaults.ReportDeadline.TotalSeconds, 0, 86_400)),
            CheckInWindow = TimeSpan.FromSeconds(r.Double("Rounds:CheckInWindowSeconds", defaults.CheckInWindow.TotalSeconds, 0, 43_200)),
            LocalEpochs = r.Int("Rounds:LocalEpochs", defaults.LocalEpochs),
            BatchSize = r.Int("Rounds:BatchSize", defaults.BatchSize),
            LearningRate = (float)r.Double("Rounds:LearningRate", defaults.LearningRate),
            MaxSamplesPerDevice = r.Int("Rounds:MaxSamplesPerDevice", defaults.MaxSamplesPerDevice),
            MaxRounds = r.Int("Rounds:MaxRounds", defaults.MaxRounds),
            Interval = TimeSpan.FromSeconds(r.Double("Rounds:IntervalSeconds", defaults.Interval.TotalSeconds, 0, 86_400)),
            Mode = modeText == "buffered" ? RoundMode.Buffered : RoundMode.Synchronous,
            BufferSize = r.Int("Rounds:BufferSize", defaults.BufferSize),
            Concurrency = r.Int("Rounds:Concurrency", defaults.Concurrency),
            StalenessCap = r.Int("Rounds:StalenessCap", defaults.StalenessCap),
        };
        foreach (var (key, problem) in rounds.Problems()) r.Require(false, key, problem);
        var strategy = ReadStrategy(r);

        var options = new AggregatorOptions
        {
            Fleet = fleet,
            ModelName = modelName,
            Model = model,
            ModelSource = source,
            ExternalBroker = external,
            BrokerStartupWaitSeconds = r.Double(nameof(BrokerStartupWaitSeconds), DefaultBrokerStartupWaitSeconds, 0, 600),
            EmbeddedBrokerPort = r.Int(nameof(EmbeddedBrokerPort), MqttEndpoint.DefaultTlsPort, 0, 65_535),
            Security = EdgeMlOps.Aggregator.Security.SecurityOptions.Read(r),
            BrokerBindAddress = bind ?? System.Net.IPAddress.Loopback,
            HttpUrl = httpUrl,
            PublicBaseUrl = publicBase,
            DataDirectory = r.String(nameof(DataDirectory), DefaultDataDirectory),
            Store = Storage.StoreOptions.Read(r),
            Registry = EdgeMlOps.Aggregator.Registry.RegistryOptions.Read(r),
            Devices = EdgeMlOps.Aggregator.Fleet.DeviceOptions.Read(r),
            Replicas = EdgeMlOps.Aggregator.Replicas.ReplicaOptions.Read(r),
            Edge = EdgeMlOps.Aggregator.Edge.EdgeOptions.Read(r),
            Seed = r.Int(nameof(Seed), 1),
            Rounds = rounds,
            Strategy = strategy,
            Trust = new Trust.TrustOptions
            {
                RootKeyFile = r.OptionalString("Trust:RootKeyFile"),
                SigningKeyLifetime = TimeSpan.FromDays(r.Double("Trust:SigningKeyDays", 365, 1, 36_500)),
                ManifestLifetime = TimeSpan.FromDays(r.Double("Trust:ManifestDays", 30, 0.001, 3650)),
                TimestampLifetime = TimeSpan.FromMinutes(r.Double("Trust:TimestampMinutes", 60, 0.05, 10_080)),
            },
            Governance = EdgeMlOps.Aggregator.Governance.GovernanceOptions.Read(r),
            Monitoring = EdgeMlOps.Aggregator.Monitoring.MonitoringSettings.Read(r, model),
            Pipeline = EdgeMlOps.Aggregator.Pipeline.PipelinePolicy.Read(r),
            EvaluationDataFile = r.OptionalString("Evaluation:DataFile"),
        };
        foreach (var (key, problem) in options.Replicas.Problems(options.Store, rounds.Mode, strategy, model)) r.Require(false, key, problem);
        foreach (var (key, problem) in options.Edge.Problems()) r.Require(false, key, problem);
        r.Require(options.EvaluationDataFile is null || File.Exists(options.EvaluationDataFile), "Evaluation:DataFile", $"'{options.EvaluationDataFile}' does not exist");
        foreach (var (key, problem) in options.PipelineProblems())
        {
            if (!r.Errors.Contains($"{r.Key(key)}: {problem}")) r.Require(false, key, problem); // a range already reported is not repeated
        }

        r.DeclareSection(EdgeMlOps.Aggregator.Lines.ModelLinesConfiguration.Section); // read below, each line by these same rules
        r.RejectUnknownKeys();
        r.ThrowIfInvalid("aggregator");
        if (!withLines) return options with { Configuration = configuration };
        var (lines, kept) = EdgeMlOps.Aggregator.Lines.FleetLines.Read(configuration, options);
        return options with { Lines = lines, KeptLines = kept, Configuration = configuration };
    }

    /// <summary>
    /// <c>Model</c>: a generated dense classifier (<c>mlp-784-128-10</c>, <c>logreg-784-10</c>) or <c>onnx:PATH</c>, an
    /// ONNX classifier file served as it is, its interface from <c>ModelInterface:Input</c>/<c>Output</c> (inferred
    /// when absent) and fine-tuned on <c>ModelInterface:Trainable</c> with <c>ModelInterface:Optimizer</c>.
    /// </summary>
    private static (ModelSpec Model, UploadedClassifier? Source) ReadModel(ConfigReader r)
    {
        var fallback = ModelSpec.Mlp(784, [128], 10);
        var text = r.String(nameof(Model), "mlp-784-128-10");
        if (!text.StartsWith(UploadedModelPrefix, StringComparison.Ordinal))
        {
            try
            {
                return (ModelSpecText.Parse(text), null);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                r.Require(false, nameof(Model), ex.Message + $" Or {UploadedModelPrefix}PATH for an ONNX classifier file.");
                return (fallback, null);
            }
        }

        var path = text[UploadedModelPrefix.Length..];
        var kind = r.String("ModelInterface:Kind", "classifier");
        if (kind is not "classifier" and not "regression" and not "multilabel" and not "positions" and not "multitask") return TensorModelConfiguration.Read(r, path, kind);
        foreach (var key in TensorModelConfiguration.Keys)
        {
            r.Require(r.OptionalString("ModelInterface:" + key) is null, "ModelInterface:" + key, "applies only to ModelInterface:Kind=tensors (a classifier is fed features and answers class scores; its features are what monitoring watches)");
        }

        var optimizerText = r.String("ModelInterface:Optimizer", "sgd");
        var (pins, varying, made) = AxisLengthsOf(r);
        var options = new UploadedClassifierOptions(r.String("ModelInterface:Trainable", "last:1"))
        {
            Input = r.OptionalString("ModelInterface:Input"),
            Output = r.OptionalString("ModelInterface:Output"),
            ScoresAreLogits = r.OptionalString("ModelInterface:Scores") switch { "logits" => true, "probabilities" => false, _ => null },
            Optimizer = TrainingNames.Optimizer(optimizerText) ?? DeviceOptimizer.Sgd,
            MaxLoopTrips = r.OptionalString("ModelInterface:MaxLoopTrips") is null ? null : r.Int("ModelInterface:MaxLoopTrips", 0, 1, Shared.Onnx.Training.TrainStepOptions.MaxLoopTripsLimit), // a loop only the data ends, unrolled to this bound
            Regression = kind == "regression", // its output is values, trained with mean squared error on float targets
            MultiLabel = kind == "multilabel", // one independent score per label, binary cross-entropy on 0/1 label vectors
            PerPosition = kind == "positions", // class scores at every position, softmax cross-entropy on a class id per position
            ClassAxisLast = r.OptionalString("ModelInterface:ClassAxis") == "last", // a tagger's [batch, positions…, classes]
            States = TensorModelConfiguration.States(r), // a streaming model's state, carried between a session's calls
            Tasks = Tasks(r, kind), // a multi-task model's outputs, trained at once
            AxisLengths = pins, // free axes besides the batch, pinned at the length the fleet serves and trains
            Varying = varying, // one of them over a range of lengths
            Made = made, // and behind a front end whose counts the data decides, the model's axis it makes them along
            FrontDims = Runtime.FrontEndRun.OutputDims, // how many frames a front end makes, where its shapes do not tell
        };
        r.Require(kind != "regression" || r.OptionalString("ModelInterface:Scores") is null, "ModelInterface:Scores", "applies to a classifier's class or label scores, not a regressor's values");
        r.Require(r.OptionalString("ModelInterface:ClassAxis") is null || (kind == "positions" && r.OptionalString("ModelInterface:ClassAxis") is "1" or "last"), "ModelInterface:ClassAxis",
            "is 1 ([batch, classes, positions…], the default) or last ([batch, positions…, classes]) for ModelInterface:Kind=positions only");
        r.Require(TrainingNames.Optimizer(optimizerText) is not null, "ModelInterface:Optimizer", $"'{optimizerText}' is not {TrainingNames.Optimizers}");
        r.Require(r.OptionalString("ModelInterface:Scores") is null or "logits" or "probabilities", "ModelInterface:Scores", $"'{r.OptionalString("ModelInterface:Scores")}' is not logits or probabilities");
        var preprocessPath = r.OptionalString("ModelInterface:Preprocess");
        var preprocess = preprocessPath is null ? null : TensorModelConfiguration.PreprocessFile(r, preprocessPath);
        try
        {
            var bytes = File.ReadAllBytes(path);
            var source = UploadedClassifier.Open(bytes, preprocess is null ? options : UploadedClassifier.WithoutFront(bytes, options));
            if (preprocess is null) return (source.Spec, source);
            try
            {
                // The model alone was fine (else the error is the model's): what remains is whether the front end fits it.
                source = UploadedClassifier.Open(bytes, options with { Preprocess = preprocess });
            }
            catch (InvalidDataException ex)
            {
                r.Require(false, "ModelInterface:Preprocess", ex.Message);
            }

            return (source.Spec, source);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or NotDifferentiableException)
        {
            r.Require(false, nameof(Model), $"'{path}': {ex.Message}");
            return (fallback, null);
        }
    }

    /// <summary>A multi-task model's <c>ModelInterface:Tasks</c> (<c>OUTPUT:classes|regression|labels|positions|tags[:WEIGHT],…</c>): required with Kind=multitask, refused with any other kind.</summary>
    private static IReadOnlyList<(string Output, EdgeMlOps.Shared.Models.ModelTaskKind Kind, float Weight)> Tasks(ConfigReader r, string kind)
    {
        var text = r.OptionalString("ModelInterface:Tasks");
        r.Require((kind == "multitask") == (text is not null), "ModelInterface:Tasks", kind == "multitask"
            ? "names the outputs a multi-task model trains: OUTPUT:classes|regression|labels|positions|tags[:WEIGHT],… (the primary first)"
            : "applies to ModelInterface:Kind=multitask only");
        try
        {
            return kind == "multitask" && text is not null ? ModelTask.Parse(text) : [];
        }
        catch (ArgumentException ex)
        {
            r.Require(false, "ModelInterface:Tasks", ex.Message);
            return [];
        }
    }

    /// <summary>
    /// <c>ModelInterface:AxisLengths</c> (<c>NAME=LENGTH,…</c>, one perhaps <c>NAME=SHORTEST..LONGEST</c>, and after it
    /// perhaps the range a front end makes as the data decides): the file's free axes besides the batch, pinned (a range
    /// at its longest), the one that varies and the made one; empty and null when unset or wrong (then one error names the key).
    /// </summary>
    private static (IReadOnlyList<(string Name, long Length)> Pins, (string Name, long Shortest)? Varying, (string Name, long Shortest)? Made) AxisLengthsOf(ConfigReader r)
    {
        try
        {
            return r.OptionalString("ModelInterface:AxisLengths") is { } text ? (Shared.Onnx.AxisLengths.Parse(text), Shared.Onnx.AxisLengths.Range(text), Shared.Onnx.AxisLengths.MadeRange(text)) : ([], null, null);
        }
        catch (ArgumentException ex)
        {
            r.Require(false, "ModelInterface:AxisLengths", ex.Message);
            return ([], null, null);
        }
    }

    /// <summary>The <c>Model</c> prefix of an ONNX classifier file.</summary>
    public const string UploadedModelPrefix = "onnx:";
}
