using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Simulator;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(SimulationOptions.Usage);
    return 0;
}

if (args is ["reproduce", ..])
{
    using var reproduceLoggers = LoggerFactory.Create(b => b.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Error));
    return await Reproduction.RunAsync(args, reproduceLoggers, Console.Out, CancellationToken.None);
}

SimulationOptions options;
try
{
    options = SimulationOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine();
    Console.Error.WriteLine(SimulationOptions.Usage);
    return 2;
}

if (options.ReplicaWorker is null && options.WorkerSlice is null && OutputLocations.Problem(options) is { } unwritable)
{
    Console.Error.WriteLine(unwritable);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

// SIGTERM (a CI job's timeout, systemd, kill) stops the run like Ctrl-C: the fleet is disposed and the work directory removed.
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    cancel.Cancel();
});

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Error));
try
{
    if (options.ReplicaWorker is not null)
    {
        await EdgeMlOps.Simulator.Workers.ReplicaProcess.RunAsync(options, loggers, Console.In, Console.Out, cancel.Token);
        return 0;
    }

    if (options.WorkerSlice is not null)
    {
        await new EdgeMlOps.Simulator.Workers.AgentWorker(options, loggers).RunAsync(Console.In, Console.Out, cancel.Token);
        return 0;
    }

    if (options.Scenario == "drift")
    {
        var drift = await new DriftScenario(options, loggers, Console.Out).RunAsync(windows: options.Windows, shiftFrom: 5, shift: 1.0, predictionsPerWindow: 100, cancel.Token);
        Console.WriteLine($"false-alarm rate in the stable region: {drift.StableFalseAlarmRate:P3} of (window, feature) pairs; predicted classes flagged in {drift.StablePredictionAlarms} of {drift.Windows.Count} windows");
        if (options.Out is { } driftPath)
        {
            await using var driftFile = File.Create(driftPath);
            drift.WriteJson(driftFile);
            Console.WriteLine($"wrote {driftPath}");
        }

        return 0;
    }

    if (options.Scenario == "retraining")
    {
        var loop = await new RetrainingScenario(options, loggers, Console.Out).RunAsync(offset: 6, windowSeconds: 4, windowsBefore: 3, windowsAfter: 3, cancel.Token, pausedWindows: 2);
        Console.WriteLine($"pipeline run {loop.Run.Id}: {loop.Run.Stage} — {loop.Run.Note}; deployed v{loop.DeployedBefore} -> v{loop.DeployedAfter}; audit intact: {loop.AuditIntact}");
        if (options.Out is { } loopPath)
        {
            await using var loopFile = File.Create(loopPath);
            loop.WriteJson(loopFile);
            Console.WriteLine($"wrote {loopPath}");
        }

        return 0;
    }

    if (options.Scenario == "rollout")
    {
        var scenario = await new RolloutScenario(options, loggers, Console.Out).RunAsync(cancel.Token);
        Console.WriteLine($"audit log: {scenario.AuditEntries} entries, intact: {scenario.AuditIntact}");
        if (options.Out is { } scenarioPath)
        {
            await using var scenarioFile = File.Create(scenarioPath);
            scenario.WriteJson(scenarioFile);
            Console.WriteLine($"wrote {scenarioPath}");
        }

        return 0;
    }

    var result = await new SimulationRunner(options, loggers, Console.Out).RunAsync(cancel.Token);
    Console.WriteLine($"final: {options.AccuracyName} {result.FinalAccuracy:F4}, {options.LossName} {result.FinalLoss:F4}, {result.Rounds.Count} rounds in {result.RoundsSeconds:F1} s (setup {result.SetupSeconds:F1} s), {result.MegabytesPerDevice:F2} MB per device, {result.BytesUpPerParticipant / 1e3:F1} kB up per participant, broker drops {result.BrokerDroppedMessages}");
    foreach (var line in result.Lines) Console.WriteLine($"final: line {line.Name} ({line.Model}) accuracy {line.FinalAccuracy:F4} (from {line.InitialAccuracy:F4}), {line.Rounds.Count} rounds");
    if (options.TargetAccuracy > 0)
    {
        Console.WriteLine(result.SecondsToReach(options.TargetAccuracy) is { } seconds
            ? $"target: accuracy {options.TargetAccuracy:F4} reached after {seconds:F1} s"
            : $"target: accuracy {options.TargetAccuracy:F4} not reached");
    }
    if (options.Experiments is { } experiments && result.Run is { } run)
    {
        Console.WriteLine($"recorded run {run.Id} in {new EdgeMlOps.Aggregator.Tracking.RunStore(experiments).Save(run)}");
    }

    if (options.Out is { } path)
    {
        await using (var file = File.Create(path)) result.WriteJson(file);
        Console.WriteLine($"wrote {path}");
        if (result.Rounds.Count > 0) Console.WriteLine($"wrote {string.Join(", ", ResultCharts.Write(result, path).Where(f => f.EndsWith(".svg", StringComparison.Ordinal)).Select(Path.GetFileName))} (and .png)");
    }

    return 0;
}
catch (Exception ex) when (ex is DatasetUnavailableException or OptionsValidationException or TimeoutException or DescriptorBudgetException or ModelFileException
    or EdgeMlOps.Aggregator.Governance.GovernanceException)
{
    Console.Error.WriteLine(ex.Message);
    return 1;
}
