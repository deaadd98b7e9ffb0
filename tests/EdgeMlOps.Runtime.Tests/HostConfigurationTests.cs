using EdgeMlOps.Runtime.Hosting;

namespace EdgeMlOps.Runtime.Tests;

public class HostConfigurationTests
{
    [Fact]
    public void CommandLine_BeatsEnvironment_BeatsJsonFile_AndFlagsAreIgnored()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-config-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "appsettings.json"), """{"Agent":{"DeviceId":"from-json","Fleet":"json-fleet","Broker":"mqtt://json:1883"}}""");
        var previous = Directory.GetCurrentDirectory();
        Environment.SetEnvironmentVariable("EDGEMLOPS_Agent__Fleet", "env-fleet");
        Environment.SetEnvironmentVariable("EDGEMLOPS_Agent__Broker", "mqtt://env:1883");
        try
        {
            Directory.SetCurrentDirectory(dir);
            var configuration = HostConfiguration.Build(["--check-config", "--Agent:Broker=mqtt://cli:1883"], "--check-config");
            Assert.Equal("from-json", configuration["Agent:DeviceId"]);
            Assert.Equal("env-fleet", configuration["Agent:Fleet"]);
            Assert.Equal("mqtt://cli:1883", configuration["Agent:Broker"]);
        }
        finally
        {
            Directory.SetCurrentDirectory(previous);
            Environment.SetEnvironmentVariable("EDGEMLOPS_Agent__Fleet", null);
            Environment.SetEnvironmentVariable("EDGEMLOPS_Agent__Broker", null);
        }
    }
}
