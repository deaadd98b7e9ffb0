using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

const string Usage = """
    edgemlops-aggregator: federated rounds, model registry, signed staged rollouts, fleet monitoring, the
    embedded MQTT broker (TLS, fleet device CA) and the HTTPS API and web console.

    Usage: edgemlops-aggregator [--Aggregator:Key=value ...] [--check-config | --write-mosquitto-config | --backup DIR | --issue-gateway ID]

      --check-config             validate the configuration (every problem listed) and exit
      --write-mosquitto-config   write a Mosquitto configuration enforcing the same identity and ACL rules, and exit
      --healthcheck              ask the running aggregator's /healthz (exit 0 healthy, 1 not): a container HEALTHCHECK
      --backup DIR               copy the data directory into the new directory DIR while the aggregator runs, and exit
      --issue-gateway ID         write edge gateway ID's credentials (certificates, trust root) into DATA/gateways/ID, and exit

    Edge role: --Aggregator:Edge:Gateway=ID --Aggregator:Edge:Upstream=mqtts://HOST:8883 runs a site's broker and its
    gateway (credentials from --Aggregator:Edge:Credentials=DIR) instead of an aggregator; docs/SCALING.md, "Edge tier".
      --version, --help

    Settings come from appsettings.json, then EDGEMLOPS_Aggregator__Key environment variables, then
    --Aggregator:Key=value. Common ones:
      --Aggregator:Admin:Tokens:NAME=ROLES:TOKEN   admin identity (roles: viewer, operator, approver, scientist, keyadmin)
      --Aggregator:HttpUrl=https://127.0.0.1:8443  API and console (certificate from the fleet CA)
      --Aggregator:EmbeddedBrokerPort=8883         MQTT over TLS; --Aggregator:Broker=mqtts://HOST:PORT for an external broker
      --Aggregator:DataDirectory=aggregator-data   registry, artifacts, keys, pki, audit
      --Aggregator:Governance:Mode=governed        four-eyes approval and staged rollouts (default: auto)
      --Aggregator:Evaluation:DataFile=eval.jsonl  held-out samples ({"features":[...],"label":3}) every version is scored on
    Every setting: docs/OPERATIONS.md.
    """;
if (EdgeMlOps.Runtime.Hosting.HostFlags.Answer(args, "edgemlops-aggregator", Usage, Console.Out) is { } answered) return answered;

var backupAt = Array.IndexOf(args, "--backup");
string? backupTarget = null;
if (backupAt >= 0)
{
    if (backupAt + 1 >= args.Length || args[backupAt + 1].StartsWith("--", StringComparison.Ordinal))
    {
        Console.Error.WriteLine("--backup: give the directory to write the copy into (a new one), e.g. --backup aggregator-backup-$(date +%F)");
        return 2;
    }

    backupTarget = args[backupAt + 1];
    args = [.. args[..backupAt], .. args[(backupAt + 2)..]];
}

var gatewayAt = Array.IndexOf(args, "--issue-gateway");
string? issueGateway = null;
if (gatewayAt >= 0)
{
    if (gatewayAt + 1 >= args.Length || !EdgeMlOps.Shared.Protocol.Topics.IsValidSegment(args[gatewayAt + 1]) || args[gatewayAt + 1].StartsWith("--", StringComparison.Ordinal))
    {
        Console.Error.WriteLine("--issue-gateway: give the gateway's id (letters, digits, '-'), e.g. --issue-gateway site-a");
        return 2;
    }

    issueGateway = args[gatewayAt + 1];
    args = [.. args[..gatewayAt], .. args[(gatewayAt + 2)..]];
}

Microsoft.Extensions.Configuration.IConfiguration configuration;
try
{
    configuration = EdgeMlOps.Runtime.Hosting.HostConfiguration.Build(args, "--check-config", "--write-mosquitto-config", "--healthcheck");
}
catch (EdgeMlOps.Runtime.Hosting.HostConfigurationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

AggregatorOptions options;
var logErrors = new List<string>();
var logLevels = EdgeMlOps.Runtime.Hosting.HostLogging.Levels(configuration, logErrors);
foreach (var error in logErrors) Console.Error.WriteLine(error);
try
{
    // Model lines an operator added at run time (DATA/lines/added.json) come back beneath every other source.
    options = AggregatorOptions.FromConfiguration(configuration);
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (logErrors.Count > 0) return 2;

if (args.Contains("--check-config"))
{
    Console.WriteLine($"Configuration is valid: fleet {options.Fleet}, model {options.ModelName} ({options.Model}){string.Concat(options.Lines.Select(l => $", model line {l.Name} ({l.Options.Model}) at {l.Options.HttpUrl}"))}.");
    return 0;
}

if (args.Contains("--healthcheck"))
{
    // The running aggregator's /healthz, trusting only its fleet CA over https.
    var listener = new Uri(options.HttpUrl);
    var caFile = Path.Combine(options.DataDirectory, "pki", EdgeMlOps.Aggregator.Security.FleetCertificateAuthority.CertificateFile);
    HttpMessageHandler handler = listener.Scheme == Uri.UriSchemeHttps && File.Exists(caFile)
        ? EdgeMlOps.Shared.Security.PinnedHttp.Handler(EdgeMlOps.Shared.Security.CertificateChain.LoadPem(File.ReadAllText(caFile)))
        : new HttpClientHandler();
    return await EdgeMlOps.Runtime.Hosting.HostFlags.CheckHealthAsync(EdgeMlOps.Runtime.Hosting.HostFlags.Local(listener, "/healthz"), handler, Console.Out);
}

if (backupTarget is not null)
{
    try
    {
        foreach (var line in EdgeMlOps.Aggregator.Storage.DataBackup.Write(options.DataDirectory, options.Store.Engine, backupTarget)) Console.WriteLine(line);
    }
    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
    {
        Console.Error.WriteLine($"--backup: {ex.Message}");
        return 1;
    }

    Console.WriteLine($"Backup of {Path.GetFullPath(options.DataDirectory)} written to {Path.GetFullPath(backupTarget)}. Restore: stop the aggregator, move the data directory aside, copy the backup in its place, start.");
    return 0;
}

if (issueGateway is not null)
{
    // The fleet's CA and keys issue a gateway's identity, its site broker's certificate and the trust root, in one directory.
    using var security = new EdgeMlOps.Aggregator.Security.FleetSecurity(options.DataDirectory, options.Fleet, options.Security, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    using var keys = new EdgeMlOps.Aggregator.Trust.KeyRing(Path.Combine(options.DataDirectory, "keys"), options.Fleet, options.Trust, DateTimeOffset.UtcNow);
    var directory = Path.Combine(options.DataDirectory, "gateways", issueGateway);
    EdgeMlOps.Aggregator.Edge.GatewayCredentials.Write(security, keys.RootPublicKey, issueGateway, directory, options.Security.BrokerHostNames, DateTimeOffset.UtcNow);
    Console.WriteLine($"Wrote gateway {issueGateway}'s credentials to {directory} (copy the directory to the gateway; the .key files are its secrets).");
    Console.WriteLine($"On this aggregator (or, for a gateway below a region, on the region's gateway), name the devices it serves: --Aggregator:Edge:Gateways:{issueGateway}=DEVICE-ID,PREFIX-*");
    Console.WriteLine($"On the gateway: edgemlops-aggregator --Aggregator:Edge:Gateway={issueGateway} --Aggregator:Edge:Upstream=mqtts://HOST:PORT --Aggregator:Edge:Credentials={directory} --Aggregator:Edge:Gateways:{issueGateway}=(the same devices)");
    return 0;
}

if (args.Contains("--write-mosquitto-config"))
{
    // For running behind Debian's Mosquitto: the same certificates, identity binding and ACL as the embedded broker.
    using var security = new EdgeMlOps.Aggregator.Security.FleetSecurity(options.DataDirectory, options.Fleet, options.Security, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    var port = options.EmbeddedBrokerPort == 0 ? EdgeMlOps.Runtime.Mqtt.MqttEndpoint.DefaultTlsPort : options.EmbeddedBrokerPort;
    var file = EdgeMlOps.Aggregator.Security.MosquittoConfiguration.Write(Path.Combine(options.DataDirectory, "mosquitto"), security, options.Fleet, port, [], DateTimeOffset.UtcNow, runAs: Environment.UserName, replicas: options.Replicas.Members, gateways: options.Edge, lines: [.. options.Lines.Select(l => l.Name)]);
    Console.WriteLine($"Wrote {file} (Mosquitto runs as {Environment.UserName}, the owner of its key). Start the broker with: mosquitto -c {file}");
    Console.WriteLine($"Then run the aggregator with --Aggregator:Broker=mqtts://HOST:{port} (HOST in the server certificate: localhost, 127.0.0.1, {Environment.MachineName} or Aggregator:Security:BrokerHostNames).");
    return 0;
}

using var loggers = EdgeMlOps.Runtime.Hosting.HostLogging.Create(configuration, logLevels);
var logger = loggers.CreateLogger("edgemlops-aggregator");
using var stopping = new CancellationTokenSource();
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });

if (EdgeMlOps.Runtime.Hosting.DataDirectoryProbe.TryWrite(options.DataDirectory) is { } unusable)
{
    // Keys, certificates, artifacts and (with SQLite) the records live there: a start without them cannot run.
    Console.Error.WriteLine($"Aggregator:DataDirectory: {EdgeMlOps.Runtime.Hosting.DataDirectoryProbe.Describe(options.DataDirectory, unusable)} Point it at a directory this aggregator's user may create and write.");
    return 2;
}

if (options.Edge.Gateway is not null)
{
    // The edge role: the site's broker and its gateway to the fleet's broker, until shut down.
    await using var edge = new EdgeMlOps.Aggregator.Edge.EdgeGatewayHost(options, loggers);
    try
    {
        await edge.StartAsync(stopping.Token);
    }
    catch (Exception ex) when (ex is IOException or InvalidDataException or FormatException or System.Security.Cryptography.CryptographicException)
    {
        Console.Error.WriteLine($"Aggregator:Edge:Credentials: {ex.Message}");
        return 2;
    }

    logger.LogInformation("Edge gateway {Gateway}: site broker on {Site}, upstream {Upstream}", options.Edge.Gateway, edge.SiteEndpoint, options.Edge.Upstream);
    try
    {
        await Task.Delay(Timeout.Infinite, stopping.Token);
    }
    catch (OperationCanceledException)
    {
    }

    return 0;
}

EdgeMlOps.Aggregator.Evaluation.IModelEvaluator? evaluator = null;
if (options.EvaluationDataFile is { } evaluationFile)
{
    try
    {
        evaluator = EdgeMlOps.Aggregator.Evaluation.HeldOutFile.Load(evaluationFile, options.Model);
        logger.LogInformation("Held-out evaluation: {Count} samples from {File}", evaluator.Count, evaluationFile);
    }
    catch (Exception ex) when (ex is InvalidDataException or IOException)
    {
        Console.Error.WriteLine($"Aggregator:Evaluation:DataFile: {ex.Message}");
        return 2;
    }
}

// Active/standby on a shared store: wait for the leader lease before opening anything that a leader writes.
using var leaseDatabases = options.Store.LeaderLeaseSeconds > 0 ? new EdgeMlOps.Aggregator.Storage.StoreDatabases(options.Store, options.DataDirectory) : null;
EdgeMlOps.Aggregator.Storage.LeaderLease? lease = null;
if (leaseDatabases is not null)
{
    try
    {
        lease = new EdgeMlOps.Aggregator.Storage.LeaderLease(leaseDatabases.Open("registry.db", durable: true), TimeProvider.System); // beside the versions it fences
    }
    catch (Exception ex) when (ex is EdgeMlOps.Aggregator.Storage.StoreException or System.Data.Common.DbException)
    {
        // A damaged registry file, or a database that refuses us: the same message and exit code as without a lease.
        Console.Error.WriteLine(ex is EdgeMlOps.Aggregator.Storage.StoreException ? ex.Message : $"Aggregator:Store: cannot take the leader lease in {options.Store.Describe(options.DataDirectory)}: {ex.Message}");
        return 2;
    }
}

await using var leader = lease is null ? null : new EdgeMlOps.Aggregator.Storage.LeaderGate(lease, TimeSpan.FromSeconds(options.Store.LeaderLeaseSeconds), TimeProvider.System, logger);

// Aggregator replicas: while another holds the lease (the coordinator), take a share of the device updates.
if (EdgeMlOps.Aggregator.Replicas.ReplicaChannels.Problem(options) is { } replicaProblem)
{
    Console.Error.WriteLine(replicaProblem);
    return 2;
}

await using var standby = options.Replicas.Enabled
    ? EdgeMlOps.Aggregator.Replicas.ReplicaStandby.ForHost(options, TimeProvider.System, loggers)
    : null;
if (leader is not null)
{
    try
    {
        if (standby is not null) await standby.StartAsync(stopping.Token);
        await leader.AcquireAsync(stopping.Token);
        if (standby is not null) await standby.DisposeAsync(); // the coordinator takes its updates through the same shared subscription
    }
    catch (OperationCanceledException)
    {
        return 0; // stopped while standing by
    }
    catch (System.Data.Common.DbException ex)
    {
        Console.Error.WriteLine($"Aggregator:Store: cannot take the leader lease in {options.Store.Describe(options.DataDirectory)}: {ex.Message}");
        return 2;
    }

    _ = leader.Lost.ContinueWith(_ => stopping.Cancel(), TaskScheduler.Default); // fail closed: never run beside a new leader
}

AggregatorNode created;
try
{
    created = new AggregatorNode(options, loggers, evaluator: evaluator);
}
catch (Exception ex) when (ex is EdgeMlOps.Aggregator.Storage.StoreException or OptionsValidationException or EdgeMlOps.Aggregator.Trust.KeyMaterialException)
{
    // A damaged store or key file, or model lines kept in the data directory that no longer read (changed while standing by).
    Console.Error.WriteLine(ex.Message);
    return 2;
}

await using var node = created;
node.Registry.Fence = leader?.Held; // a replaced leader cannot write a version
EdgeMlOps.Aggregator.Lines.ModelLineHost? lines = null;
try
{
    try
    {
        await node.StartAsync(stopping.Token);
    }
    catch (Exception ex) when (ex is EdgeMlOps.Aggregator.Broker.BrokerUnreachableException or EdgeMlOps.Aggregator.PortInUseException)
    {
        // Like a store it cannot open: say which and why, and let the service manager try again (Restart=on-failure).
        Console.Error.WriteLine(ex.Message);
        return 2;
    }

    try
    {
        // The fleet's further models, each with its own registry, rounds, rollouts and API, on the same broker and CA.
        lines = await EdgeMlOps.Aggregator.Lines.ModelLineHost.StartAsync(node, loggers, stopping.Token);
    }
    catch (Exception ex) when (ex is EdgeMlOps.Aggregator.Broker.BrokerUnreachableException or EdgeMlOps.Aggregator.PortInUseException or EdgeMlOps.Aggregator.Trust.KeyMaterialException)
    {
        Console.Error.WriteLine(ex.Message); // names the line's own setting or key file, or the identity its broker must admit
        return 2;
    }
    catch (Exception ex) when (ex is EdgeMlOps.Aggregator.Storage.StoreException or OptionsValidationException or InvalidDataException or IOException)
    {
        Console.Error.WriteLine($"Aggregator:Lines: {ex.Message}");
        return 2;
    }

    // Each model's rounds yield to its retraining pipeline while its policy (configuration or registry) is enabled.
    await Task.WhenAll(node.RunRoundsAsync(stopping.Token), lines.RunRoundsAsync(stopping.Token));
    if (options.Rounds.MaxRounds == 0)
    {
        // Rounds stopped (a model the fleet only serves, a spent privacy budget): the fleet still needs its broker,
        // artifacts, rollouts and API, so the aggregator runs on until it is shut down.
        logger.LogInformation("Rounds have stopped; still serving the fleet (broker, artifacts, rollouts, API) until shut down");
        await Task.Delay(Timeout.Infinite, stopping.Token);
    }
}
catch (OperationCanceledException)
{
}

if (lines is not null) await lines.DisposeAsync();
logger.LogInformation("Aggregator stopped");
return leader?.Lost.IsCompleted == true ? 3 : 0;
