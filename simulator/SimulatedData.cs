using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator;

/// <summary>The dataset a simulation runs on: loaded, split into training pool and held-out set, and partitioned over devices.</summary>
public sealed record SimulatedData(Dataset Data, Dataset Pool, Dataset Test, int[][] Parts)
{
    /// <summary>The fleet every simulation runs.</summary>
    public const string Fleet = "sim";

    public static SimulatedData Load(SimulationOptions options)
    {
        var data = options.Dataset == "mnist" ? MnistDataset.Load(options.CacheDirectory)
            : options.Dataset.StartsWith("csv:", StringComparison.Ordinal) ? LoadCsv(options)
            : SyntheticDataset.Generate(options.SyntheticSamples + options.TestSize, options.SyntheticDim, options.SyntheticClasses, options.Seed);
        if (options.TestSize >= data.Count) throw new ArgumentException($"--test-size {options.TestSize} leaves no training data (dataset has {data.Count}).");
        var (pool, test) = data.Split(options.TestSize, options.Seed);
        return new SimulatedData(data, pool, test, options.Partition.Split(pool, options.Devices, options.Seed));
    }

    /// <summary>The csv dataset of <c>--dataset csv:PATH</c>; one it cannot read is a <see cref="DatasetUnavailableException"/> naming the option.</summary>
    private static Dataset LoadCsv(SimulationOptions options)
    {
        var path = options.Dataset[4..];
        try
        {
            return options.TakesTargets ? CsvTargetDataset.Load(path, options.TargetColumns) : CsvTargetDataset.LoadClasses(path);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new DatasetUnavailableException($"--dataset {options.Dataset}: {ex.Message}", ex);
        }
    }

    /// <summary>A fresh work directory for <paramref name="scenario"/> (or the one given with --work-dir).</summary>
    public static string WorkDirectory(SimulationOptions options, string scenario)
    {
        var work = options.WorkDirectory ?? Path.Combine(Path.GetTempPath(), $"edgemlops-{scenario}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        return work;
    }

    /// <summary>
    /// The model file of <c>--model-file</c> read as the fleet's classifier, checked against this data (its samples'
    /// size and classes); null for the generated MLP. Throws <see cref="ModelFileException"/> saying what does not fit.
    /// </summary>
    public UploadedClassifier? UploadedModel(SimulationOptions options)
    {
        if (options.ModelFile is not { } path) return null;
        UploadedClassifier model;
        try
        {
            var front = options.PreprocessFile is { } frontPath ? File.ReadAllBytes(frontPath) : null;
            model = UploadedClassifier.Open(File.ReadAllBytes(path), new UploadedClassifierOptions(options.Trainable) { Preprocess = front, Regression = options.Regression, MultiLabel = options.MultiLabel, PerPosition = options.PerPosition, ClassAxisLast = options.ClassAxisLast, Input = options.ModelInput, Output = options.ModelOutput, Tasks = options.Tasks, AxisLengths = options.AxisLengths, Varying = options.Varying, Made = options.Made, Optimizer = options.Optimizer, MaxLoopTrips = options.MaxLoopTrips, FrontDims = EdgeMlOps.Runtime.FrontEndRun.OutputDims });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException or EdgeMlOps.Shared.Onnx.Training.NotDifferentiableException)
        {
            throw new ModelFileException($"--model-file {path}: {ex.Message}", ex);
        }

        if (model.Spec.TakesTargets)
        {
            if (model.Spec.InputDim != Data.InputDim || model.Spec.Targets != Data.TargetWidth)
                throw new ModelFileException($"--model-file {path} takes {model.Spec.InputDim} floats into {model.Spec.Targets} {(model.Spec.IsMultiLabel ? "labels" : model.Spec.IsPerPosition ? "positions" : model.Spec.IsMultiTask ? "targets (every task's)" : "values")}; {Data.Name} has {Data.InputDim} features and {Data.TargetWidth} targets");
            if (model.Spec.IsMultiLabel && Data.Targets is { } labels && Array.FindIndex(labels, t => t is not (0f or 1f)) is var bad and >= 0)
                throw new ModelFileException($"--dataset {Data.Name}: target {bad % Data.TargetWidth} of sample {bad / Data.TargetWidth} is {labels[bad]}; a multi-label classifier's labels are 0 or 1");
            var classes = model.Spec.Graph!.PositionClasses;
            if (model.Spec.IsPerPosition && Data.Targets is { } ids && Array.FindIndex(ids, t => !model.Spec.Graph.IsPositionClass(t)) is var odd and >= 0)
                throw new ModelFileException($"--dataset {Data.Name}: target {odd % Data.TargetWidth} of sample {odd / Data.TargetWidth} is {ids[odd]}; a per-position classifier's targets are class ids 0 to {classes - 1}");
            for (var row = 0; model.Spec.IsMultiTask && Data.Targets is { } truth && row < Data.Count; row++)
            {
                if (model.Spec.TaskTargetProblem(truth.AsSpan(row * Data.TargetWidth, Data.TargetWidth)) is { } problem) throw new ModelFileException($"--dataset {Data.Name}: sample {row}: {problem}");
            }

            return model;
        }

        if (model.Spec.InputDim != Data.InputDim || model.Spec.Classes != Data.Classes)
            throw new ModelFileException($"--model-file {path} takes {model.Spec.InputDim} floats into {model.Spec.Classes} classes; {Data.Name} has {Data.InputDim} into {Data.Classes}");
        return model;
    }

    /// <summary>The aggregator every scenario starts from: embedded broker on a free port, this data's model, rounds from the options.</summary>
    public AggregatorOptions AggregatorOptions(SimulationOptions options, string work)
    {
        var uploaded = UploadedModel(options);
        return new()
        {
            Fleet = Fleet,
            ModelName = options.Dataset,
            Model = uploaded?.Spec ?? new ModelSpec(Data.InputDim, options.Hidden, Data.Classes),
            ModelSource = uploaded,
            ExternalBroker = options.ExternalBroker,

            // An external plain-TCP broker on the command line is an explicit development choice (logged as insecure).
            Security = new EdgeMlOps.Aggregator.Security.SecurityOptions { AllowPlaintext = options.InsecurePlaintext || options.ExternalBroker is { Tls: false } },
            EmbeddedBrokerPort = 0,
            // HTTPS like the shipped host, unless the run is explicitly plaintext for development.
            HttpUrl = options.InsecurePlaintext || options.ExternalBroker is { Tls: false } ? "http://127.0.0.1:0" : "https://127.0.0.1:0",
            DataDirectory = Path.Combine(work, "aggregator"),
            Store = SimulatedStore.Options(options, work),
            Replicas = options.Replicas > 1
                ? new EdgeMlOps.Aggregator.Replicas.ReplicaOptions { Name = "r0", Members = Enumerable.Range(0, options.Replicas).Select(i => $"r{i}").ToArray() }
                : new(),
            Edge = options.EdgeSites > 0 ? SimulatedEdge.Options(options.EdgeSites, options.Devices, options.EdgeRegions) with { Settle = options.EdgeSettle } : new(),
            Seed = options.Seed,
            Rounds = new RoundOptions
            {
                Mode = options.Mode,
                BufferSize = options.BufferSize,
                Concurrency = options.Concurrency,
                StalenessCap = options.StalenessCap,
                Fraction = options.Fraction,
                MinDevices = 1,
                OverSelection = options.OverSelection,
                AdaptiveOverSelection = options.AdaptiveOverSelection,
                MinQuorum = options.MinQuorum,
                ReportDeadline = options.Deadline,
                CheckInWindow = options.CheckInWindow,
                LocalEpochs = options.LocalEpochs,
                BatchSize = options.Batch,
                LearningRate = options.LearningRate,
            },
        };
    }
}
