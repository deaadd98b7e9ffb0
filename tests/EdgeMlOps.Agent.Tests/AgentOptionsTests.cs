using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Agent.Tests;

public class AgentOptionsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) => Bare([("Agent:FleetCaFile", CaFile), .. values]);

    private static IConfiguration Bare(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    private static readonly string CaFile = WriteCa();

    private static string WriteCa()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var ca = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test CA", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.GetTempFileName();
        File.WriteAllText(path, ca.ExportCertificatePem());
        return path;
    }

    [Fact]
    public void AMistypedKey_IsAnError_WithTheNearestSetting_WhileSettingsUnusedWithAPlainBrokerAreNot()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Brokr", "mqtts://x:8883"))));
        Assert.Equal("Agent:Brokr: not a setting; did you mean Agent:Broker?", Assert.Single(ex.Errors));

        // A plain development broker reads neither the CA nor the enrollment settings: still real settings, not typos.
        var plain = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Broker", "mqtt://x:1883"), ("Agent:Enrollment:TokenFile", "nowhere"), ("Agent:Tags:site", "north")));
        Assert.Null(plain.FleetCa);
    }

    [Fact]
    public void FromConfiguration_TlsBrokerByDefault_NeedsThePinnedFleetCa_AndReadsEnrollment()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Bare(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root))));
        Assert.StartsWith("Agent:FleetCaFile", Assert.Single(ex.Errors), StringComparison.Ordinal);

        var tokenFile = Path.GetTempFileName();
        File.WriteAllText(tokenFile, "s3cret\n");
        var options = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Enrollment:Url", "http://agg:8080"), ("Agent:Enrollment:TokenFile", tokenFile)));
        Assert.True(options.Broker.Tls);
        Assert.Equal(8883, options.Broker.Port);
        Assert.Equal("CN=test CA", options.FleetCa!.Subject);
        Assert.Equal(new("http://agg:8080/"), options.Enrollment!.Url);
        Assert.Equal("s3cret", options.Enrollment.Token);

        // An enrolled device needs only the URL (to renew).
        var renewOnly = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Enrollment:Url", "http://agg:8080")));
        Assert.Null(renewOnly.Enrollment!.Token);
    }

    [Fact]
    public void FromConfiguration_ValidSettings_AreRead()
    {
        var options = AgentOptions.FromConfiguration(Config(
            ("Agent:DeviceId", "cam-7"), ("Agent:Fleet", "plant"), ("Agent:Broker", "mqtt://broker.local:8883"),
            ("Agent:MaxSamples", "500"), ("Agent:Tags:region", "eu"), ("Agent:StatusIntervalSeconds", "15"), ("Agent:TrustedRoots:0", Root)));
        Assert.Equal("cam-7", options.DeviceId);
        Assert.Equal(("broker.local", 8883), (options.Broker.Host, options.Broker.Port));
        Assert.Equal(500, options.MaxSamples);
        Assert.Equal("eu", options.Tags["region"]);
        Assert.Equal(TimeSpan.FromSeconds(15), options.StatusInterval);
        Assert.Equal(Convert.FromBase64String(Root), Assert.Single(options.TrustedRoots));
    }

    private static readonly string Root = Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey);

    [Fact]
    public void FromConfiguration_RootsFromAFile_AndNoRootAtAll_IsAnError()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "# the aggregator's keys/root.pub\n" + Root + "\n");
        var options = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRootFile", file)));
        Assert.Single(options.TrustedRoots);

        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", "not base64!"))));
        Assert.Equal(2, ex.Errors.Count);
        Assert.All(ex.Errors, e => Assert.StartsWith("Agent:TrustedRoots", e, StringComparison.Ordinal));
    }

    /// <summary>
    /// A root file that is base64 but no public key (the wrong file copied, a private key, a truncated line) was taken:
    /// the device then refused every model the fleet signed ("not signed by a pinned root key") and said nothing at start.
    /// </summary>
    [Theory]
    [InlineData("junk")] // base64 of three bytes
    [InlineData("AAAA")]
    [InlineData("private")] // a private key's PKCS#8 in its place: below
    public void ARootThatIsNoPublicKey_IsRefusedAtStart_NamingTheFile(string content)
    {
        using var other = EdgeMlOps.Shared.Trust.SigningKeyPair.Generate();
        var text = content == "private" ? Convert.ToBase64String(other.ExportPkcs8()) : content;
        var file = Path.GetTempFileName();
        File.WriteAllText(file, text + "\n");

        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRootFile", file))));

        Assert.Contains(ex.Errors, e => e.StartsWith($"Agent:TrustedRootFile: '{file}' line 1 is not an ECDSA P-256 public key", StringComparison.Ordinal));
    }

    [Fact]
    public void FromConfiguration_ListsEveryProblem_WithTheKeysAsTyped()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(
            ("Agent:DeviceId", "bad/id"), ("Agent:Broker", "http://nope"), ("Agent:MaxSamples", "-3"),
            ("Agent:KeepAliveSeconds", "soon"), ("Agent:ArtifactBaseUrl", "ftp://x"), ("Agent:TrustedRoots:0", Root))));
        Assert.Equal(5, ex.Errors.Count);
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:DeviceId", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:Broker", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:MaxSamples", StringComparison.Ordinal) && e.Contains("'-3'", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:KeepAliveSeconds", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:ArtifactBaseUrl", StringComparison.Ordinal));
        Assert.Contains("5 problems", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromConfiguration_BaselineRule_IsParsedOrListedAsAProblem()
    {
        var options = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Baseline", "threshold:3:0.5:1:0"), ("Agent:ProfileWindowSeconds", "60"), ("Agent:ProfileSampleEvery", "4")));
        Assert.Equal(4, options.ProfileSampleEvery);
        Assert.Equal("threshold:3:0.5:1:0", options.Baseline!.Text);
        Assert.Equal(TimeSpan.FromMinutes(1), options.ProfileWindow);
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Baseline", "guess"))));
        Assert.StartsWith("Agent:Baseline", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void FromConfiguration_SketchPolicy_DefaultsToTheFloor_AndRefusesTinyCaps()
    {
        var defaults = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root)));
        Assert.Equal(new EdgeMlOps.Shared.Monitoring.SketchPolicy(20, 1, 0), defaults.SketchPolicy);
        var set = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Sketch:MinRows", "50"), ("Agent:Sketch:MaxItems", "64")));
        Assert.Equal(new EdgeMlOps.Shared.Monitoring.SketchPolicy(50, 1, 64), set.SketchPolicy);
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Sketch:MaxItems", "4"))));
        Assert.StartsWith("Agent:Sketch:MaxItems", Assert.Single(ex.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public void FromConfiguration_ExplainPolicy_IsRead_AndOutOfRangeCostsAreRefused()
    {
        var defaults = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root)));
        Assert.Equal(new Serving.ExplanationPolicy(), defaults.Explain);
        var set = AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Explain:BackgroundRows", "8"), ("Agent:Explain:MaxCoalitions", "512")));
        Assert.Equal(new Serving.ExplanationPolicy { BackgroundRows = 8, MaxCoalitions = 512 }, set.Explain);
        var ex = Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config(("Agent:DeviceId", "cam-7"), ("Agent:TrustedRoots:0", Root), ("Agent:Explain:ExactUpToFeatures", "30"), ("Agent:Explain:MaxCoalitions", "1"))));
        Assert.Equal(2, ex.Errors.Count);
        Assert.Contains(ex.Errors, e => e.StartsWith("Agent:Explain:ExactUpToFeatures", StringComparison.Ordinal));
    }

    [Fact]
    public void FromConfiguration_MissingDeviceId_IsAnError() =>
        Assert.Throws<OptionsValidationException>(() => AgentOptions.FromConfiguration(Config()));
}
