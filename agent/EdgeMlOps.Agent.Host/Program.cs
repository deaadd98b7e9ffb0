using System.Runtime.InteropServices;
using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Inputs;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Runtime.Storage;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

const string Usage = """
    edgemlops-agent: serves the fleet's ONNX model on this device, learns from the ground truth it is given and
    sends only weight deltas, sketches and counts to the aggregator over MQTT (TLS, its own enrolled certificate).

    Usage: edgemlops-agent [--Agent:Key=value ...] [--check-config | --erase-data]

      --check-config   validate the configuration (every problem listed) and exit
      --erase-data     delete this device's samples, pending messages and predictions, and exit
      --healthcheck    ask the running agent's /v1/health on Agent:Http (exit 0 healthy, 1 not): a container HEALTHCHECK
      --version, --help

    Settings come from appsettings.json, then EDGEMLOPS_Agent__Key environment variables, then --Agent:Key=value.
    Common ones:
      --Agent:DeviceId=dev-1                         this device's id (its certificate names it)
      --Agent:Broker=mqtts://localhost:8883          the fleet's broker
      --Agent:FleetCaFile=aggregator-data/pki/ca.crt the fleet CA this device pins
      --Agent:TrustedRootFile=aggregator-data/keys/root.pub   the model-signing root this device pins
      --Agent:Enrollment:Url=https://127.0.0.1:8443/ and --Agent:Enrollment:TokenFile=...   first enrollment
      --Agent:DataDirectory=data  --Agent:Http=http://127.0.0.1:8090/   one of each per agent
    Every setting: docs/OPERATIONS.md.
    """;
if (EdgeMlOps.Runtime.Hosting.HostFlags.Answer(args, "edgemlops-agent", Usage, Console.Out) is { } answered) return answered;

Microsoft.Extensions.Configuration.IConfiguration configuration;
try
{
    configuration = EdgeMlOps.Runtime.Hosting.HostConfiguration.Build(args, "--check-config", "--erase-data", "--healthcheck");
}
catch (EdgeMlOps.Runtime.Hosting.HostConfigurationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

AgentOptions options;
var logErrors = new List<string>();
var logLevels = EdgeMlOps.Runtime.Hosting.HostLogging.Levels(configuration, logErrors);
foreach (var error in logErrors) Console.Error.WriteLine(error);

try
{
    options = AgentOptions.FromConfiguration(configuration);
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (logErrors.Count > 0) return 2;

if (args.Contains("--check-config"))
{
    Console.WriteLine($"Configuration is valid: device {options.DeviceId} in fleet {options.Fleet}, broker {options.Broker}.");
    return 0;
}

if (args.Contains("--healthcheck"))
{
    // The running agent's local API, over TCP or its Unix domain socket.
    switch (options.HttpAddress)
    {
        case null:
            Console.WriteLine("Agent:Http is off: nothing to ask");
            return 1;
        case { } unix when unix.StartsWith("unix:", StringComparison.Ordinal):
            var socket = new SocketsHttpHandler
            {
                ConnectCallback = async (_, ct) =>
                {
                    var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(unix["unix:".Length..]), ct);
                    return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
                },
            };
            return await EdgeMlOps.Runtime.Hosting.HostFlags.CheckHealthAsync(new Uri("http://localhost/v1/health"), socket, Console.Out);
        case { } tcp:
            var listener = new Uri(tcp.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal));
            return await EdgeMlOps.Runtime.Hosting.HostFlags.CheckHealthAsync(EdgeMlOps.Runtime.Hosting.HostFlags.Local(listener, "/v1/health"), new SocketsHttpHandler(), Console.Out);
    }
}

// Structured logs: one JSON object per event with `--Logging:Format=json` (for journald/Loki), else single timestamped lines.
using var loggers = EdgeMlOps.Runtime.Hosting.HostLogging.Create(configuration, logLevels);
var logger = loggers.CreateLogger("edgemlops-agent");
using var stopping = new CancellationTokenSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });

// A data directory that takes no writes (remounted read-only after I/O errors): serve the installed model with the
// stores in memory, refuse ground truth with the reason, and restart once it is writable again.
// Erasure names one device's data: a path that holds none (a typo) must not report an erasure that did not happen.
if (args.Contains("--erase-data") && !AgentStores.Exist(options.DataDirectory))
{
    Console.Error.WriteLine($"Nothing erased: {Path.GetFullPath(options.DataDirectory)} holds no agent's data (no sample store or outbox there). Check Agent:DataDirectory.");
    return 1;
}

string? readOnly;
try
{
    readOnly = ReadOnlyDataDirectory.Check(options.DataDirectory);
}
catch (IOException ex)
{
    Console.Error.WriteLine($"Agent:DataDirectory: {EdgeMlOps.Runtime.Hosting.DataDirectoryProbe.Describe(options.DataDirectory, ex)} Point it at a directory this agent may create and write.");
    return 2;
}

// Two agents must never share a data directory (they would report each other's samples as their own). A read-only one
// cannot be written by either.
DataDirectoryLock? dataLock = null;
try
{
    if (readOnly is null) dataLock = DataDirectoryLock.Acquire(options.DataDirectory);
}
catch (DataDirectoryInUseException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

using var dataLease = dataLock;

// An unreadable store is kept aside and replaced by an empty one: the device keeps serving its model.
using var stores = AgentStores.Open(options, inMemory: readOnly is not null, DateTimeOffset.UtcNow);
var (store, outbox) = (stores.Samples, stores.Outbox);
var readOnlyNotice = readOnly is null ? null
    : $"the {readOnly}: serving the installed model, ground truth and erasure refused, messages held in memory; the agent restarts (exit code {ReadOnlyDataDirectory.RestartExitCode}) once it is writable";
string[] storageNotices = [.. new[] { readOnlyNotice }.OfType<string>(), .. stores.Notices];
foreach (var notice in storageNotices) logger.LogError("Storage: {Notice}", notice);
if (args.Contains("--erase-data"))
{
    if (readOnly is not null)
    {
        Console.Error.WriteLine($"Nothing erased: the {readOnly}.");
        return 1;
    }

    // Right to erasure from the command line: no network needed.
    var (samples, predictions) = store.EraseAll();
    var queued = outbox.Count;
    outbox.Clear();
    Console.WriteLine($"Erased {samples} samples, {predictions} pending predictions and {queued} queued messages from {options.DataDirectory}.");
    return 0;
}

// https:// enrollment and artifact URLs must present a certificate from the fleet CA the device pins.
using var http = options.FleetCa is { } fleetCa
    ? new HttpClient(EdgeMlOps.Shared.Security.PinnedHttp.Handler(fleetCa)) { Timeout = TimeSpan.FromMinutes(5) }
    : new HttpClient { Timeout = TimeSpan.FromMinutes(5) };
var dependencies = new AgentDependencies { Runtimes = new EdgeMlOps.Agent.Models.ModelRuntimes(new EdgeMlOps.Runtime.OrtSessionSettings(1, options.ExecutionProvider)), Store = store, Outbox = outbox, Models = new ModelStore(Path.Combine(options.DataDirectory, "models")), Http = http, LoggerFactory = loggers, StorageNotices = storageNotices, ReadOnlyStorage = readOnly, ComputeSlots = new SemaphoreSlim(1, 1) };
await using var agent = new DeviceAgent(options, dependencies);

// The fleet's further models assigned to this device (its catalogue, cohort tags and memory budget), on the same connection.
await using var lines = readOnly is null ? new EdgeMlOps.Agent.Lines.ModelLines(agent, options, dependencies) : null;
LocalApi? api = null;
try
{
    // The installed models first and the local API on them, then the network: a broker that takes the connection and
    // never answers costs the first attempt's timeout, and serving does not wait for it.
    await agent.LoadAsync();
    if (lines is not null) await lines.StartAsync(stopping.Token);
    if (options.HttpAddress is { } address)
    {
        api = new LocalApi(agent, new LocalApiOptions { Address = address }, loggers.CreateLogger<LocalApi>(), lines);
        try
        {
            api.Start();
        }
        catch (System.Net.Sockets.SocketException ex) when (ex.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            Console.Error.WriteLine($"Agent:Http: {address} is already in use (another agent?); give each agent its own --Agent:Http=http://127.0.0.1:PORT/ or 'off'.");
            await agent.StopAsync();
            return 2;
        }
    }

    await agent.StartAsync(stopping.Token);
    if (options.ReleaseMemoryAfterHeavyWork)
    {
        // Start-up's code and garbage go before a cold start's first session is made on top of them.
        var releaser = MemoryReleaser.For(agent, loggers.CreateLogger<MemoryReleaser>(), options.ReleaseFilePages, options.ReleaseFilePagesInterval);
        releaser.ReleaseAfterStartUp();
        _ = releaser.RunAsync(TimeSpan.FromSeconds(1), stopping.Token);
    }

    if (options.Input is { } input)
    {
        // JSON lines from stdin or a file: labelled lines are ground truth, others are predicted to stdout.
        using var reader = input == "stdin" ? Console.In : new StreamReader(input["file:".Length..]);
        await new InputPump(agent, new JsonLinesSource(reader, input, () => SampleLayout.Of(agent.CurrentModel?.Architecture.Graph)), loggers.CreateLogger<InputPump>(), Console.Out).RunAsync(stopping.Token);
    }

    if (readOnly is not null)
    {
        await ReadOnlyDataDirectory.WaitUntilWritableAsync(options.DataDirectory, TimeProvider.System, stopping.Token);
        logger.LogWarning("Storage: {Directory} is writable again; stopping so the service manager restarts the agent on its stores (exit code {Code})", options.DataDirectory, ReadOnlyDataDirectory.RestartExitCode);
        if (api is not null) await api.DisposeAsync();
        await agent.StopAsync();
        return ReadOnlyDataDirectory.RestartExitCode;
    }

    await Task.Delay(Timeout.Infinite, stopping.Token);
}
catch (OperationCanceledException)
{
}
catch (Exception ex) when (ex is not OutOfMemoryException)
{
    logger.LogCritical(ex, "Agent stopped");
    return 1;
}

logger.LogInformation("Shutting down");
if (api is not null) await api.DisposeAsync();
if (lines is not null) await lines.DisposeAsync(); // the lines say goodbye on the connection the first model then closes
await agent.StopAsync();
return 0;
