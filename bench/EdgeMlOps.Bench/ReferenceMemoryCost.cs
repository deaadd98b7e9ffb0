using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a registry's drift references cost the aggregator's memory: every reference profile of <c>MODEL</c> in a
/// registry file (one a run left, e.g. <c>--work-dir DIR</c>'s <c>aggregator/registry.db</c>), read as the monitor
/// holds them. <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- reference-memory REGISTRY.DB MODEL INPUTS CLASSES</c>
/// </summary>
public static class ReferenceMemoryCost
{
    public static void Run(string path, string model, int inputs, int classes, TextWriter output)
    {
        using var registry = new ModelRegistry(path);
        var references = registry.References(model);
        output.WriteLine($"{references.Count} references of {model}, {references.Sum(r => r.Profile.Length):N0} bytes in the registry");
        if (references.Count == 0) return;
        var monitor = new FleetMonitor(new MonitoringOptions(), inputs, classes);
        var before = Managed();
        var held = references.Select(r => monitor.Read(ProfileReport.Parser.ParseFrom(r.Profile))).ToList();
        var after = Managed();
        output.WriteLine($"held in memory: {(after - before) / 1e6:F1} MB, {(after - before) / references.Count / 1e3:F0} KB a reference");
        GC.KeepAlive(held);
    }

    private static long Managed()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
