using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Trust;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Agent;

/// <summary>Everything a device agent needs to know at startup. Section <c>Agent</c> in configuration.</summary>
public sealed record AgentOptions
{
    public const string Section = "Agent";

    public required string DeviceId { get; init; }

    public string Fleet { get; init; } = "default";

    /// <summary>The model line this agent runs (set by <see cref="Lines.ModelLines"/>), or null for the fleet's first model.</summary>
    public string? Line { get; init; }

    /// <summary>Memory the device gives the fleet's further models (<c>Agent:MemoryBudgetMb</c>): lines are admitted while their requests fit.</summary>
    public long MemoryBudgetBytes { get; init; } = DefaultMemoryBudgetMb << 20;

    public const long DefaultMemoryBudgetMb = 512;

    /// <summary>The fleet's broker: <c>mqtts://</c> (TLS with this device's certificate, the default) or <c>mqtt://</c> (development only).</summary>
    public MqttEndpoint Broker { get; init; } = new("localhost", MqttEndpoint.DefaultTlsPort, Tls: true);

    /// <summary>The fleet CA this device pins (<c>FleetCaFile</c>, PEM): the broker's certificate must chain to it, and so must the device's own.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? FleetCa { get; init; }

    /// <summary>Where and with which token the device enrolls for its certificate (<c>Enrollment:Url</c>, <c>Enrollment:Token</c> or <c>Enrollment:TokenFile</c>).</summary>
    public Security.EnrollmentSettings? Enrollment { get; init; }

    /// <summary>Where the agent keeps its SQLite store.</summary>
    public string DataDirectory { get; init; } = "data";

    /// <summary>Descriptive tags (hardware class, region, firmware) reported in status messages.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>Labelled samples kept on the device; the oldest go first.</summary>
    public int MaxSamples { get; init; } = 10_000;

    /// <summary>Labelled samples older than this are deleted (null: kept until the count bound).</summary>
    public TimeSpan? MaxSampleAge { get; init; }

    /// <summary>Preferred ONNX Runtime execution provider (cpu, xnnpack, openvino, cuda, dnnl, qnn); falls back to cpu.</summary>
    public string ExecutionProvider { get; init; } = "cpu";

    /// <summary>Extra input source besides the HTTP API: null, <c>stdin</c> or <c>file:PATH</c> (JSON lines).</summary>
    public string? Input { get; init; }

    /// <summary>Local model API address (<c>http://HOST:PORT/</c> or <c>unix:/PATH</c>), or null to disable it.</summary>
    public string? HttpAddress { get; init; } = "http://127.0.0.1:8090/";

    /// <summary>Largest the sample store may grow on disk (0: no cap besides <see cref="MaxSamples"/>); beyond it ground truth is refused with 507 as on a full disk.</summary>
    public long MaxStoreBytes { get; init; }

    /// <summary>Recent predictions kept so that feedback can refer to them by id.</summary>
    public int MaxPendingPredictions { get; init; } = 10_000;

    /// <summary>Outgoing messages kept while offline; beyond it the oldest is dropped and counted.</summary>
    public int MaxOutboxMessages { get; init; } = 1000;

    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How often buffered predictions are written to the store in one transaction. Feedback finds a
    /// prediction in the buffer too, so a longer period only widens what a crash can lose; a simulator
    /// hosting thousands of agents stretches it so their timers do not eat the CPU.
    /// </summary>
    public TimeSpan PredictionFlushInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    public uint SessionExpirySeconds { get; init; } = 3600;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Overrides the artifact base URL the aggregator announces (e.g. behind a proxy).</summary>
    public Uri? ArtifactBaseUrl { get; init; }

    /// <summary>
    /// Root public keys (SubjectPublicKeyInfo, ECDSA P-256) the device pins. Only a trust bundle
    /// signed by one of them can certify the keys that sign manifests and rollout plans; with none,
    /// nothing installs.
    /// </summary>
    public IReadOnlyList<byte[]> TrustedRoots { get; init; } = [];

    /// <summary>How often the profile of served predictions (sketches, class counts, confusion counts) is published; zero turns it off.</summary>
    public TimeSpan ProfileWindow { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Feature sketches take every N-th prediction (1: all). Class, confidence, latency and ground-truth counts
    /// always take every prediction; a larger N trades drift sensitivity per window for serving throughput.
    /// </summary>
    public int ProfileSampleEvery { get; init; } = 1;

    /// <summary>
    /// What feature sketches must satisfy before they leave the device (<c>Sketch:MinRows</c>, <c>Sketch:MinLevel</c>,
    /// <c>Sketch:MaxItems</c>): a window with fewer sketched rows is carried into the next one (up to twelve windows, then
    /// sent without feature sketches); published quantile sketches hold no item that stands for a single value.
    /// </summary>
    public EdgeMlOps.Shared.Monitoring.SketchPolicy SketchPolicy { get; init; } = new();

    /// <summary>A rule-based baseline run beside the model (<c>constant:C</c> or <c>threshold:F:T:A:B</c>) for business KPIs; null: none.</summary>
    public EdgeMlOps.Shared.Monitoring.BaselineRule? Baseline { get; init; }

    /// <summary>
    /// After a round is trained or a model installed, collect and compact the managed heap and trim the C heap
    /// (<c>ReleaseMemoryAfterHeavyWork</c>; the standalone agent does it, a simulator hosting many agents does not).
    /// </summary>
    public bool ReleaseMemoryAfterHeavyWork { get; init; } = true;

    /// <summary>
    /// With <see cref="ReleaseMemoryAfterHeavyWork"/>, also unmap the clean pages of mapped code and constants
    /// (<c>ReleaseFilePages</c>, Linux): pages touched once at start-up or while installing a model leave the resident
    /// set, the ones serving uses are mapped back from the page cache. See <see cref="CleanFilePages"/>.
    /// </summary>
    public bool ReleaseFilePages { get; init; } = true;

    /// <summary>Least time between two releases of file pages after the first (<c>ReleaseFilePagesIntervalSeconds</c>; 0: at every release).</summary>
    public TimeSpan ReleaseFilePagesInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The device's own cap on local epochs per task, whatever a task asks (<c>MaxLocalEpochs</c>).</summary>
    public int MaxLocalEpochs { get; init; } = 100;

    /// <summary>The device's own cap on training time per task (<c>MaxTrainingSeconds</c>): training stops there, and the task's deadline is never taken beyond it.</summary>
    public TimeSpan MaxTrainingTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>A download slower than this on average (after a 30 s allowance), or silent for <see cref="DownloadStall"/>, is abandoned (<c>MinDownloadBytesPerSecond</c>, <c>DownloadStallSeconds</c>).</summary>
    public long MinDownloadBytesPerSecond { get; init; } = Models.DownloadLimits.Default.MinBytesPerSecond;

    public TimeSpan DownloadStall { get; init; } = Models.DownloadLimits.Default.Stall;

    /// <summary>What one explanation may cost on this device (<c>Explain:BackgroundRows</c>, <c>Explain:ExactUpToFeatures</c>, <c>Explain:MaxCoalitions</c>, <c>Explain:MaxSweepValues</c>).</summary>
    public Serving.ExplanationPolicy Explain { get; init; } = new();

    /// <summary>Largest model artifact the agent will download.</summary>
    public long MaxArtifactBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// Reads and validates section <c>Agent</c>. Throws <see cref="OptionsValidationException"/>
    /// listing every problem at once.
    /// </summary>
    public static AgentOptions FromConfiguration(IConfiguration configuration)
    {
        var r = new ConfigReader(configuration, Section);
        var deviceId = r.String(nameof(DeviceId), string.Empty);
        r.Require(Topics.IsValidSegment(deviceId), nameof(DeviceId), $"'{deviceId}' must be non-empty, at most 128 characters, without '/', '+', '#' or a leading '$'");
        var fleet = r.String(nameof(Fleet), "default");
        r.Require(Topics.IsValidSegment(fleet), nameof(Fleet), $"'{fleet}' is not a valid fleet name");
        var brokerText = r.String(nameof(Broker), "mqtts://localhost:8883");
        r.Require(MqttEndpoint.TryParse(brokerText, out var broker), nameof(Broker), $"'{brokerText}' is not an mqtts://host:port (or mqtt://) URL");
        // A plain (development) broker needs no CA: the shipped FleetCaFile setting is then not read at all.
        r.Declare("FleetCaFile", "Enrollment:Url", "Enrollment:Token", "Enrollment:TokenFile");
        var fleetCa = broker.Tls ? FleetCaOrNull(r) : null;
        r.Require(!broker.Tls || fleetCa is not null, "FleetCaFile", $"is required with a TLS broker ({brokerText}): the PEM file of the fleet CA this device pins (aggregator-data/pki/ca.crt)");
        var enrollment = EnrollmentOrNull(r);
        var artifactText = r.OptionalString(nameof(ArtifactBaseUrl));
        Uri? artifactBase = null;
        r.Require(artifactText is null || (Uri.TryCreate(artifactText, UriKind.Absolute, out artifactBase) && artifactBase.Scheme is "http" or "https"),
            nameof(ArtifactBaseUrl), $"'{artifactText}' is not an http(s) URL");

        var options = new AgentOptions
        {
            DeviceId = deviceId,
            Fleet = fleet,
            Broker = broker,
            FleetCa = fleetCa,
            Enrollment = enrollment,
            DataDirectory = r.String(nameof(DataDirectory), "data"),
            Tags = r.Map(nameof(Tags)),
            MemoryBudgetBytes = r.Long("MemoryBudgetMb", DefaultMemoryBudgetMb, 0, 1 << 30) << 20,
            MaxSamples = r.Int(nameof(MaxSamples), 10_000, 1, 10_000_000),
            MaxSampleAge = r.Double("MaxSampleAgeDays", 0, 0, 36_500) is > 0 and var days ? TimeSpan.FromDays(days) : null,
            HttpAddress = HttpAddressOrNull(r),
            Input = InputOrNull(r),
            ExecutionProvider = ProviderName(r),
            MaxPendingPredictions = r.Int(nameof(MaxPendingPredictions), 10_000, 0, 10_000_000),
            MaxStoreBytes = r.Long("MaxStoreMegabytes", 0, 0, 1_000_000) * 1024 * 1024,
            MaxOutboxMessages = r.Int(nameof(MaxOutboxMessages), 1000, 1, 1_000_000),
            StatusInterval = TimeSpan.FromSeconds(r.Int("StatusIntervalSeconds", 60, 1, 86_400)),
            PredictionFlushInterval = TimeSpan.FromMilliseconds(r.Int("PredictionFlushMilliseconds", 50, 1, 3_600_000)),
            SessionExpirySeconds = (uint)r.Long(nameof(SessionExpirySeconds), 3600, 0, uint.MaxValue),
            KeepAlive = TimeSpan.FromSeconds(r.Int("KeepAliveSeconds", 30, 1, 65_535)),
            ArtifactBaseUrl = artifactBase,
            MaxArtifactBytes = r.Long(nameof(MaxArtifactBytes), 256L * 1024 * 1024, 1024, long.MaxValue),
            MaxLocalEpochs = r.Int(nameof(MaxLocalEpochs), 100, 1, 100_000),
            MinDownloadBytesPerSecond = r.Long(nameof(MinDownloadBytesPerSecond), Models.DownloadLimits.Default.MinBytesPerSecond, 1, long.MaxValue),
            DownloadStall = TimeSpan.FromSeconds(r.Double("DownloadStallSeconds", Models.DownloadLimits.Default.Stall.TotalSeconds, 0.1, 3600)),
            MaxTrainingTime = TimeSpan.FromSeconds(r.Double("MaxTrainingSeconds", 600, 1, 86_400)),
            TrustedRoots = TrustedRootKeys(r),
            ProfileWindow = TimeSpan.FromSeconds(r.Double("ProfileWindowSeconds", 300, 0, 86_400)),
            Baseline = BaselineOrNull(r),
            ProfileSampleEvery = r.Int(nameof(ProfileSampleEvery), 1, 1, 1_000_000),
            ReleaseMemoryAfterHeavyWork = r.Bool(nameof(ReleaseMemoryAfterHeavyWork), true),
            ReleaseFilePages = r.Bool(nameof(ReleaseFilePages), true),
            ReleaseFilePagesInterval = TimeSpan.FromSeconds(r.Int("ReleaseFilePagesIntervalSeconds", 30, 0, 86_400)),
            Explain = new Serving.ExplanationPolicy
            {
                BackgroundRows = r.Int("Explain:BackgroundRows", 16, 1, 1024),
                ExactUpToFeatures = r.Int("Explain:ExactUpToFeatures", 10, 0, 16),
                MaxCoalitions = r.Int("Explain:MaxCoalitions", 2048, 16, 65_536),
                MaxSweepValues = r.Int("Explain:MaxSweepValues", 256, 1, 100_000),
                MaxImportancePredictions = r.Int("Explain:MaxImportancePredictions", 200_000, 0, int.MaxValue),
            },
            SketchPolicy = new EdgeMlOps.Shared.Monitoring.SketchPolicy(
                r.Int("Sketch:MinRows", 20, 0, 1_000_000),
                r.Int("Sketch:MinLevel", 1, 0, 30),
                r.Int("Sketch:MaxItems", 0, 0, 1_000_000)),
        };
        r.Require(options.SketchPolicy.MaxItems is 0 or >= 8, "Sketch:MaxItems", "keep at least 8 items per sketch (or 0 for no cap)");
        r.RejectUnknownKeys();
        r.ThrowIfInvalid("agent");
        return options;
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2? FleetCaOrNull(ConfigReader r)
    {
        if (r.OptionalString("FleetCaFile") is not { } file) return null;
        try
        {
            return System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(file));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            r.Require(false, "FleetCaFile", $"'{file}' is not a readable PEM certificate: {ex.Message}");
            return null;
        }
    }

    private static Security.EnrollmentSettings? EnrollmentOrNull(ConfigReader r)
    {
        var urlText = r.OptionalString("Enrollment:Url");
        if (urlText is null) return null;
        r.Require(Uri.TryCreate(urlText.EndsWith('/') ? urlText : urlText + "/", UriKind.Absolute, out var url) && url.Scheme is "http" or "https", "Enrollment:Url", $"'{urlText}' is not an http(s) URL");
        var token = r.OptionalString("Enrollment:Token");
        var tokenFile = token is null ? r.OptionalString("Enrollment:TokenFile") : null;
        // A missing token file is no error: an enrolled device no longer needs its token, and a secret may be mounted
        // later; enrollment reads it then, and names it if it is still not there.
        if (tokenFile is { } file && File.Exists(file))
        {
            try
            {
                token = File.ReadAllText(file).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                r.Require(false, "Enrollment:TokenFile", $"'{file}' cannot be read: {ex.Message}");
            }
        }

        r.Require(token is null || token.Length > 0, "Enrollment:Token", "is empty");
        return url is null ? null : new Security.EnrollmentSettings(url, token, token is null ? tokenFile : null);
    }

    /// <summary>
    /// Roots from <c>TrustedRoots:N</c> (base64) and <c>TrustedRootFile</c> (a file of base64 keys, one per line), each
    /// checked to be an ECDSA P-256 public key: anything else would make the device refuse every model its fleet signs.
    /// </summary>
    private static IReadOnlyList<byte[]> TrustedRootKeys(ConfigReader r)
    {
        var texts = r.Map(nameof(TrustedRoots)).Values.Select(t => (Setting: nameof(TrustedRoots), Where: $"'{t}'", Text: t)).ToList();
        if (r.OptionalString("TrustedRootFile") is { } file)
        {
            try
            {
                texts.AddRange(File.ReadAllLines(file).Select((l, i) => (Setting: "TrustedRootFile", Where: $"'{file}' line {i + 1}", Text: l.Trim()))
                    .Where(l => l.Text.Length > 0 && !l.Text.StartsWith('#')));
            }
            catch (IOException ex)
            {
                r.Require(false, "TrustedRootFile", $"cannot read '{file}': {ex.Message}");
            }
        }

        var keys = new List<byte[]>();
        foreach (var (setting, where, text) in texts)
        {
            var bytes = new byte[text.Length];
            var problem = !Convert.TryFromBase64String(text, bytes, out var length) ? "not base64"
                : Signatures.PublicKeyProblem(bytes.AsSpan(0, length));
            r.Require(problem is null, setting, $"{where} is not an ECDSA P-256 public key ({problem}): pin the aggregator's keys/root.pub");
            if (problem is null) keys.Add(bytes[..length]);
        }

        r.Require(keys.Count > 0, nameof(TrustedRoots), "at least one root public key is required (TrustedRoots:0=BASE64 or TrustedRootFile=PATH, e.g. the aggregator's keys/root.pub)");
        return keys;
    }

    private static EdgeMlOps.Shared.Monitoring.BaselineRule? BaselineOrNull(ConfigReader r)
    {
        if (r.OptionalString(nameof(Baseline)) is not { } text) return null;
        try
        {
            return EdgeMlOps.Shared.Monitoring.BaselineRule.Parse(text);
        }
        catch (FormatException ex)
        {
            r.Require(false, nameof(Baseline), ex.Message);
            return null;
        }
    }

    private static string ProviderName(ConfigReader r)
    {
        var text = r.String(nameof(ExecutionProvider), "cpu").ToLowerInvariant();
        r.Require(EdgeMlOps.Runtime.OrtSessionSettings.KnownProviders.Contains(text), nameof(ExecutionProvider),
            $"'{text}' is not one of {string.Join(", ", EdgeMlOps.Runtime.OrtSessionSettings.KnownProviders)}");
        return text;
    }

    private static string? InputOrNull(ConfigReader r)
    {
        var text = r.OptionalString(nameof(Input));
        r.Require(text is null or "stdin" || text.StartsWith("file:", StringComparison.Ordinal), nameof(Input), $"'{text}' is neither 'stdin' nor 'file:PATH'");
        return text;
    }

    private static string? HttpAddressOrNull(ConfigReader r)
    {
        var text = r.String("Http", "http://127.0.0.1:8090/");
        if (text == "off") return null;
        r.Require(Http.LocalHttpServer.ParseAddress(text, out var error) is not null, "Http", $"{error}; or 'off'");
        return text;
    }
}
