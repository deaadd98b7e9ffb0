using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>
/// An aggregator whose data directory cannot be created or written (a file in its place, a read-only volume, a
/// directory owned by another user), or whose settings file is not JSON, stops with exit code 2 naming the setting or
/// file and why. It crashed with an unhandled exception (exit code 134, a core dump) from wherever it first wrote.
/// </summary>
public sealed class UnusableFilesAtStartTests : IDisposable
{
    private readonly string _work = AggregatorFixture.TempDirectory();

    public void Dispose()
    {
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    private Task<(int Code, string Output, string Errors)> StartAsync(string dataDirectory) =>
        HostProcess.RunToExitAsync(HostProcess.Aggregator, _work, "--Aggregator:DataDirectory=" + dataDirectory,
            "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:HttpUrl=https://127.0.0.1:0");

    [Fact]
    public async Task AFileInItsPlace_StopsTheStartWithExitCode2_NamingTheSetting()
    {
        var file = Path.Combine(_work, "aggregator-data");
        await File.WriteAllTextAsync(file, "not a directory");

        var (code, output, errors) = await StartAsync(file);

        Assert.Equal(2, code);
        Assert.Contains($"Aggregator:DataDirectory: '{file}' cannot be used: it is a file, not a directory.", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
    }

    /// <summary>An appsettings.json that is not JSON in the working directory crashed the start (exit code 134) with the parser's stack trace.</summary>
    [Fact]
    public async Task AnAppSettingsFileThatIsNotJson_StopsTheStartWithExitCode2_NamingTheFile()
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "appsettings.json"), "{ \"Aggregator\": { \"Fleet\": \"plant\" }");

        var (code, output, errors) = await StartAsync(Path.Combine(_work, "data"));

        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(_work, "appsettings.json")}: not valid JSON", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
    }

    /// <summary>
    /// The fleet's key material damaged (a disk error, a bad restore, a hand edit): the start crashed with an unhandled
    /// exception (exit code 134) from the parser. It stops with exit code 2 naming the file, and makes no new key in its
    /// place — devices pin this fleet's root and CA, so a new one would cut every device off.
    /// </summary>
    [Theory]
    [InlineData("keys/root.pk8")]
    [InlineData("keys/bundle.pb")]
    [InlineData("pki/ca.key")]
    [InlineData("pki/ca.crt")]
    public async Task ADamagedKeyFile_StopsTheStartWithExitCode2_NamingIt_AndIsNotReplaced(string file)
    {
        var data = Path.Combine(_work, "data");
        await new AggregatorNode(AggregatorFixture.Options(data, clients: 1)).DisposeAsync(); // writes the keys, the CA and the stores
        var path = Path.Combine(data, file);
        Assert.True(File.Exists(path), path);
        await File.WriteAllTextAsync(path, "garbage");

        var (code, output, errors) = await StartAsync(data);

        Assert.Equal(2, code);
        Assert.Contains(Path.Combine(data, file), errors, StringComparison.Ordinal);
        Assert.Contains("damaged", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
        Assert.Equal("garbage", await File.ReadAllTextAsync(path));
    }

    /// <summary>A device CA key restored from another backup than its certificate: every certificate it issued would fail the devices' check.</summary>
    [Fact]
    public async Task ADeviceCaKeyThatIsNotTheCertificates_StopsTheStart()
    {
        var (data, other) = (Path.Combine(_work, "data"), Path.Combine(_work, "other"));
        await new AggregatorNode(AggregatorFixture.Options(data, clients: 1)).DisposeAsync();
        await new AggregatorNode(AggregatorFixture.Options(other, clients: 1)).DisposeAsync();
        File.Copy(Path.Combine(other, "pki", "ca.key"), Path.Combine(data, "pki", "ca.key"), overwrite: true);

        var (code, _, errors) = await StartAsync(data);

        Assert.Equal(2, code);
        Assert.Contains($"{Path.Combine(data, "pki", "ca.key")} is damaged (it is not the key of ca.crt", errors, StringComparison.Ordinal);
    }

    /// <summary>A read-only volume.</summary>
    [Fact]
    public async Task AReadOnlyVolume_StopsTheStartWithExitCode2_NamingTheSetting()
    {
        using var volume = Tmpfs.Mount("1m", readOnly: true);
        var data = Path.Combine(volume.Path, "aggregator-data");

        var (code, output, errors) = await StartAsync(data);

        Assert.Equal(2, code);
        Assert.Contains($"Aggregator:DataDirectory: '{data}' cannot be used: Read-only file system", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output + errors, StringComparison.Ordinal);
    }
}
