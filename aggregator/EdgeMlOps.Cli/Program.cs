using Spectre.Console;

// Piped or redirected, there is no terminal width to fit: tables keep whole words on one line instead of wrapping at 80
// columns (COLUMNS, when set, still wins).
var console = AnsiConsole.Console;
if (Console.IsOutputRedirected) console.Profile.Width = int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 0 ? columns : 400;
return await EdgeMlOps.Cli.Cli.RunAsync(args, console);
