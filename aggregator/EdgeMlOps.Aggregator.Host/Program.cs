using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

// Configuration: appsettings.json < environment (EDGEMLOPS_Aggregator__Broker) < command line (--Aggregator:Broker=mqtt://host:1883).
var configuration = new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json", optional: true)
    .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true)
    .AddEnvironmentVariables("EDGEMLOPS_")
    .AddCommandLine(args.Where(a => a != "--check-config").ToArray())
    .Build();

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
Console.CancelKeyPress += (_, e) => { e.Cancel = true; stopping.Cancel(); };
AppDomain.CurrentDomain.ProcessExit += (_, _) => stopping.Cancel();

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
