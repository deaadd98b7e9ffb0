using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

var configuration = EdgeMlOps.Runtime.Hosting.HostConfiguration.Build(args, "--check-config");

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
