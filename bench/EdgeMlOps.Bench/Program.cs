using BenchmarkDotNet.Running;

if (args is ["profile-sizes", .. var sizeArgs])
{
    if (sizeArgs is ["mel", ..]) EdgeMlOps.Bench.ProfileSizes.Run(Console.Out, mel: true);
    else EdgeMlOps.Bench.ProfileSizes.Run(Console.Out, sizeArgs.Length > 0 ? int.Parse(sizeArgs[0], System.Globalization.CultureInfo.InvariantCulture) : 784, sizeArgs is [_, "audio", ..]);
    return;
}

if (args is ["tls-cost", ..])
{
    await EdgeMlOps.Bench.TlsCost.RunAsync(Console.Out);
    return;
}

if (args is ["shadow-cost", ..])
{
    await EdgeMlOps.Bench.ShadowCost.RunAsync(Console.Out);
    return;
}

if (args is ["ingest-cost", "replicas", .. var replicaArgs])
{
    await EdgeMlOps.Bench.IngestCost.RunReplicasAsync(replicaArgs.FirstOrDefault(), Console.Out);
    return;
}

if (args is ["ingest-cost", .. var ingestArgs])
{
    await EdgeMlOps.Bench.IngestCost.RunAsync(ingestArgs.FirstOrDefault(), Console.Out);
    return;
}

if (args is ["registry-history", .. var historyArgs])
{
    EdgeMlOps.Bench.RegistryHistoryCost.Run(historyArgs.Length > 0 ? int.Parse(historyArgs[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000, historyArgs.ElementAtOrDefault(1), Console.Out);
    return;
}

if (args is ["device-churn", .. var churnArgs])
{
    EdgeMlOps.Bench.DeviceChurnCost.Run(churnArgs.Length > 0 ? int.Parse(churnArgs[0], System.Globalization.CultureInfo.InvariantCulture) : 100_000, Console.Out);
    return;
}

if (args is ["reference-memory", var registryPath, var referenceModel, var inputs, var classes])
{
    EdgeMlOps.Bench.ReferenceMemoryCost.Run(registryPath, referenceModel, int.Parse(inputs, System.Globalization.CultureInfo.InvariantCulture), int.Parse(classes, System.Globalization.CultureInfo.InvariantCulture), Console.Out);
    return;
}

if (args is ["store-cost", .. var rest])
{
    await EdgeMlOps.Bench.StoreCost.RunAsync(rest.FirstOrDefault(), Console.Out);
    return;
}

if (args is ["metrics-export", .. var exportArgs])
{
    await EdgeMlOps.Bench.MetricsExportCost.RunAsync(exportArgs, Console.Out);
    return;
}

if (args is ["explain-cost", ..])
{
    EdgeMlOps.Bench.ExplainCost.Run(Console.Out);
    return;
}

if (args is ["drift-noise", .. var noiseArgs])
{
    EdgeMlOps.Bench.DriftNoise.Run(noiseArgs.Length > 0 ? int.Parse(noiseArgs[0], System.Globalization.CultureInfo.InvariantCulture) : 1000, Console.Out);
    return;
}

if (args is ["preprocess-cost", ..])
{
    EdgeMlOps.Bench.PreprocessCost.Run(Console.Out);
    return;
}

if (args is ["front-end-per-sample", ..])
{
    EdgeMlOps.Bench.FrontEndPerSampleCost.Run(Console.Out);
    return;
}

if (args is ["train-step-compare", ..])
{
    EdgeMlOps.Bench.TrainStepCompare.Run(Console.Out);
    return;
}

if (args is ["model-footprint", .. var footprintArgs])
{
    EdgeMlOps.Bench.ModelFootprint.Run(footprintArgs, Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
