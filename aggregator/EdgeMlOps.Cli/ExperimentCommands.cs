using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EdgeMlOps.Shared.Tracking;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary>
/// <c>edgemlops experiments list|show|compare</c> over the run records in a directory (<c>experiments/</c>, where the
/// simulator writes them), and <c>edgemlops reproduce VERSION</c>, which has the simulator re-create the version.
/// </summary>
internal static class ExperimentCommands
{
    public static Command Experiments(IAnsiConsole console, IAnsiConsole output)
    {
        var dir = new Option<DirectoryInfo>("--dir") { Description = "Directory of run records", DefaultValueFactory = _ => new DirectoryInfo("experiments"), Recursive = true };
        var list = new Command("list", "Runs, oldest first: model, rounds, final accuracy, commit");
        list.SetAction((r, _) => Cli.Run(console, () =>
        {
            var table = new Table().AddColumns("Run", "Kind", "Started (UTC)", "Model", "Rounds", "Versions", "Final accuracy", "Curve", "Commit");
            foreach (var run in Load(r.GetValue(dir)!))
            {
                table.AddRow(Markup.Escape(run.Id), run.Kind, run.StartedAt.ToString("u", CultureInfo.InvariantCulture), Markup.Escape($"{run.Model.Name} {run.Model.Spec}"),
                    run.Rounds.Count.ToString(CultureInfo.InvariantCulture), Versions(run), F(run.FinalAccuracy), Curve(run), Short(run.Code.Commit));
            }

            output.Write(table);
            return Task.CompletedTask;
        }));

        var id = new Argument<string>("run") { Description = "Run id" };
        var show = new Command("show", "One run: code, environment, data fingerprint, parameters, rounds") { id };
        show.SetAction((r, _) => Cli.Run(console, () =>
        {
            var run = Find(r.GetValue(dir)!, r.GetValue(id)!);
            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("[bold]run[/]", Markup.Escape($"{run.Id} ({run.Kind}) {run.StartedAt:u} → {run.EndedAt:u}"));
            grid.AddRow("[bold]code[/]", Markup.Escape($"commit {run.Code.Commit}, version {run.Code.Version}"));
            grid.AddRow("[bold]environment[/]", Markup.Escape($"{run.Environment.Os}, {run.Environment.Runtime}, {run.Environment.Architecture} ×{run.Environment.Processors}; {string.Join(", ", run.Environment.Packages.Select(p => $"{p.Key} {p.Value}"))}"));
            grid.AddRow("[bold]model[/]", Markup.Escape($"{run.Model.Name} {run.Model.Spec}: {run.Model.Inputs} inputs, {run.Model.Classes} classes"));
            grid.AddRow("[bold]data[/]", Markup.Escape($"{run.Data.Name}, partition {run.Data.Partition}, {run.Data.Devices} devices, {run.Data.Samples} samples ({run.Data.SamplesPerDevice.Values.DefaultIfEmpty().Min()}–{run.Data.SamplesPerDevice.Values.DefaultIfEmpty().Max()} per device), fingerprint {run.Data.Fingerprint}"));
            grid.AddRow("[bold]arguments[/]", Markup.Escape(string.Join(' ', run.Arguments)));
            output.Write(grid);
            var parameters = new Table().AddColumns("Parameter", "Value");
            foreach (var (key, value) in run.Parameters) parameters.AddRow(Markup.Escape(key), Markup.Escape(value));
            output.Write(parameters);
            var rounds = new Table().AddColumns("Round", "Status", "Version", "Contributors", "Samples", "Accuracy", "Loss", "Train loss", "Seconds");
            foreach (var round in run.Rounds)
            {
                rounds.AddRow(round.Round.ToString(CultureInfo.InvariantCulture), round.Status, round.NewVersion?.ToString(CultureInfo.InvariantCulture) ?? "-", $"{round.Contributors}/{round.Selected}",
                    round.Samples.ToString(CultureInfo.InvariantCulture), F(round.Accuracy), F(round.Loss), F(round.TrainLoss), round.Seconds.ToString("F2", CultureInfo.InvariantCulture));
            }

            output.Write(rounds);
            return Task.CompletedTask;
        }));

        var ids = new Argument<string[]>("runs") { Description = "Two or more run ids", Arity = new ArgumentArity(2, 20) };
        var compare = new Command("compare", "Runs side by side: the parameters that differ, final metrics, accuracy per round") { ids };
        compare.SetAction((r, _) => Cli.Run(console, () =>
        {
            var runs = r.GetValue(ids)!.Select(i => Find(r.GetValue(dir)!, i)).ToArray();
            var differing = new Table().AddColumn("Parameter");
            foreach (var run in runs) differing.AddColumn(Markup.Escape(run.Id));
            var keys = runs.SelectMany(run => run.Parameters.Keys).Distinct().Order(StringComparer.Ordinal)
                .Where(k => runs.Select(run => run.Parameters.GetValueOrDefault(k)).Distinct().Count() > 1);
            foreach (var key in keys) differing.AddRow([Markup.Escape(key), .. runs.Select(run => Markup.Escape(run.Parameters.GetValueOrDefault(key) ?? "(unset)"))]);
            foreach (var (label, value) in new (string, Func<RunRecord, string>)[]
            {
                ("code commit", run => Short(run.Code.Commit)), ("data fingerprint", run => Short(run.Data.Fingerprint)),
                ("final accuracy", run => F(run.FinalAccuracy)), ("final loss", run => F(run.FinalLoss)), ("rounds", run => run.Rounds.Count.ToString(CultureInfo.InvariantCulture)),
                ("accuracy curve", Curve),
            })
            {
                differing.AddRow([$"[bold]{label}[/]", .. runs.Select(value)]);
            }

            output.Write(differing);
            var curves = new Table().AddColumn("Round");
            foreach (var run in runs) curves.AddColumn(Markup.Escape(run.Id));
            foreach (var round in runs.SelectMany(run => run.Rounds.Select(x => x.Round)).Distinct().Order())
            {
                curves.AddRow([round.ToString(CultureInfo.InvariantCulture), .. runs.Select(run => F(run.Rounds.FirstOrDefault(x => x.Round == round)?.Accuracy))]);
            }

            output.Write(curves);
            return Task.CompletedTask;
        }));

        return new Command("experiments", "Run records: list, show, compare (the simulator writes them to experiments/)") { dir, list, show, compare };
    }

    public static Command Reproduce(IAnsiConsole console)
    {
        var version = new Argument<ulong>("version") { Description = "The version to re-create" };
        var run = new Option<string?>("--run") { Description = "The run that made it (default: the newest that did)" };
        var dir = new Option<DirectoryInfo>("--dir") { Description = "Directory of run records", DefaultValueFactory = _ => new DirectoryInfo("experiments") };
        var reproduce = new Command("reproduce", "Re-create a version in the simulator from its run record and compare it bit for bit") { version, run, dir };
        reproduce.SetAction(async (r, ct) =>
        {
            string[] arguments = ["reproduce", r.GetValue(version).ToString(CultureInfo.InvariantCulture), "--experiments", r.GetValue(dir)!.FullName];
            if (r.GetValue(run) is { } id) arguments = [.. arguments, "--run", id];
            if (Simulator(arguments) is not { } start)
            {
                console.MarkupLine("[red]error:[/] no simulator: set EDGEMLOPS_SIMULATOR to the edgemlops-simulator executable, or run from the repository root (simulator/ is used with dotnet run)");
                return 1;
            }

            using var process = Process.Start(start)!;
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            return process.ExitCode;
        });
        return reproduce;
    }

    /// <summary>How to start the simulator: EDGEMLOPS_SIMULATOR, or the repository's project with dotnet run.</summary>
    private static ProcessStartInfo? Simulator(string[] arguments)
    {
        ProcessStartInfo start;
        if (Environment.GetEnvironmentVariable("EDGEMLOPS_SIMULATOR") is { Length: > 0 } path)
        {
            start = path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? new ProcessStartInfo("dotnet") { ArgumentList = { path } } : new ProcessStartInfo(path);
        }
        else if (File.Exists(Path.Combine("simulator", "EdgeMlOps.Simulator.csproj")))
        {
            start = new ProcessStartInfo("dotnet") { ArgumentList = { "run", "--project", "simulator", "-c", "Release", "--" } };
        }
        else
        {
            return null;
        }

        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.UseShellExecute = false;
        return start;
    }

    private static IReadOnlyList<RunRecord> Load(DirectoryInfo dir)
    {
        if (!dir.Exists) throw new AdminApiException(0, $"no run records in {dir.FullName} (the simulator writes them there; --dir DIR for another place)");
        var runs = new List<RunRecord>();
        foreach (var file in dir.EnumerateFiles("*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllText(file.FullName), TrackingJson.Default.RunRecord) is { } run) runs.Add(run);
            }
            catch (JsonException)
            {
                // Not a run record (or a damaged one): listed runs are the readable ones.
            }
        }

        return runs.OrderBy(x => x.StartedAt).ThenBy(x => x.Id, StringComparer.Ordinal).ToArray();
    }

    private static RunRecord Find(DirectoryInfo dir, string id) =>
        Load(dir).FirstOrDefault(x => x.Id == id) ?? throw new AdminApiException(0, $"no run {id} in {dir.FullName}");

    private static string Versions(RunRecord run) =>
        run.Versions.Count == 0 ? "-" : $"v{run.Versions[0].Version}–v{run.Versions[^1].Version}";

    private static string Curve(RunRecord run) =>
        Sparkline.Of(run.Rounds.Where(x => x.Accuracy is { } a && double.IsFinite(a)).Select(x => x.Accuracy!.Value).ToArray());

    private static string F(double? x) => x is { } d && double.IsFinite(d) ? d.ToString("F4", CultureInfo.InvariantCulture) : "-";

    private static string Short(string text) => text.Length > 12 ? text[..12] : text;
}
