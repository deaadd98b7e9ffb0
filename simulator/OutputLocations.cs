using EdgeMlOps.Runtime.Hosting;

namespace EdgeMlOps.Simulator;

/// <summary>
/// Where a run writes its results (<c>--out</c>) and run record (<c>--experiments</c>), checked before the run: a run of
/// minutes must not end in a write that could not succeed.
/// </summary>
public static class OutputLocations
{
    /// <summary>What stops <paramref name="options"/>' outputs from being written, for the command line; null when nothing does.</summary>
    public static string? Problem(SimulationOptions options)
    {
        if (options.Out is { } file)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
            if (!Directory.Exists(directory)) return $"--out {file}: its directory '{directory}' does not exist";
            if (Directory.Exists(file)) return $"--out {file}: is a directory; give a file name, e.g. {Path.Combine(file, "results.json")}";
            if (DataDirectoryProbe.TryWrite(directory) is { } failure) return $"--out {file}: {DataDirectoryProbe.Describe(directory, failure)}";
        }

        if (options.Experiments is { } experiments && DataDirectoryProbe.TryWrite(experiments) is { } unusable)
        {
            return $"--experiments: {DataDirectoryProbe.Describe(experiments, unusable)} Give a directory, or --experiments off.";
        }

        return null;
    }
}
