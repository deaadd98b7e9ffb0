using Spectre.Console;

return await EdgeMlOps.Cli.Cli.RunAsync(args, AnsiConsole.Console);
