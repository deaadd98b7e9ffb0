using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

var configuration = EdgeMlOps.Runtime.Hosting.HostConfiguration.Build(args, "--check-config", "--write-mosquitto-config");

AggregatorOptions options;
try
{
    options = AggregatorOptions.FromConfiguration(configuration);
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (args.Contains("--check-config"))
{
    Console.WriteLine($"Configuration is valid: fleet {options.Fleet}, model {options.ModelName} ({options.Model}).");
    return 0;
}

if (args.Contains("--write-mosquitto-config"))
{
    // For running behind Debian's Mosquitto: the same certificates, identity binding and ACL as the embedded broker.
    using var security = new EdgeMlOps.Aggregator.Security.FleetSecurity(options.DataDirectory, options.Fleet, options.Security, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    var port = options.EmbeddedBrokerPort == 0 ? EdgeMlOps.Runtime.Mqtt.MqttEndpoint.DefaultTlsPort : options.EmbeddedBrokerPort;
    var file = EdgeMlOps.Aggregator.Security.MosquittoConfiguration.Write(Path.Combine(options.DataDirectory, "mosquitto"), security, options.Fleet, port, [], DateTimeOffset.UtcNow, runAs: Environment.UserName);
    Console.WriteLine($"Wrote {file} (Mosquitto runs as {Environment.UserName}, the owner of its key). Start the broker with: mosquitto -c {file}");
    Console.WriteLine($"Then run the aggregator with --Aggregator:Broker=mqtts://HOST:{port} (HOST in the server certificate: localhost, 127.0.0.1, {Environment.MachineName} or Aggregator:Security:BrokerHostNames).");
    return 0;
}

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggers.CreateLogger("edgemlops-aggregator");
using var stopping = new CancellationTokenSource();
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopping.Cancel(); });
using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopping.Cancel(); });

await using var node = new AggregatorNode(options, loggers);
try
{
    await node.StartAsync(stopping.Token);
    await node.RunRoundsAsync(stopping.Token);
}
catch (OperationCanceledException)
{
}

logger.LogInformation("Aggregator stopped");
return 0;
