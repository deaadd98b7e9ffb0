using System.CommandLine;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary><c>edgemlops rounds</c> and <c>edgemlops drift</c>: what training and monitoring did, as tables (or JSON).</summary>
internal static class FleetCommands
{
    public static Command Rounds(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client, Func<ParseResult, string> model)
    {
        var last = new Option<int>("--last") { Description = "Show the last N rounds", DefaultValueFactory = _ => 20 };
        var rounds = new Command("rounds", "Federated rounds: participants, samples, rejections, the version each made") { last };
        rounds.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var table = new Table().AddColumns("Round", "Id", "Status", "Selected", "Contributed", "Samples", "Rejected", "New version", "Ended (UTC)");
            foreach (var round in (await client(r).GetAsync($"/v1/admin/models/{model(r)}/rounds?limit={r.GetValue(last)}", ct).ConfigureAwait(false)).EnumerateArray())
            {
                table.AddRow(Cli.Cell(round, "round"), Cli.Cell(round, "roundId"), Cli.Cell(round, "status"), Cli.Cell(round, "selected"), Cli.Cell(round, "contributors"),
                    Cli.Cell(round, "samples"), Cli.Cell(round, "rejected"), Cli.Cell(round, "newVersion"), Cli.Cell(round, "endedAt"));
            }

            output.Write(table);
        }));
        return rounds;
    }

    public static Command Drift(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var limit = new Option<int>("--limit") { Description = "Newest N reports", DefaultValueFactory = _ => 50 };
        var drift = new Command("drift", "Drift reports by version, cohort and window") { limit };
        drift.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var table = new Table().AddColumns("Version", "Cohort", "Window", "Judged", "Drifted", "Share", "Dataset drift", "Prediction drift");
            foreach (var d in (await client(r).GetAsync($"/v1/admin/drift?limit={r.GetValue(limit)}", ct).ConfigureAwait(false)).EnumerateArray())
            {
                table.AddRow(Cli.Cell(d, "version"), Cli.Cell(d, "cohort"), Cli.Cell(d, "window"), Cli.Cell(d, "judged"), Cli.Cell(d, "drifted"), Cli.Cell(d, "share"),
                    d.TryGetProperty("datasetDrift", out var flag) && flag.GetBoolean() ? "[red]yes[/]" : "no", PredictionDrift(d));
            }

            output.Write(table);
        }));
        return drift;
    }

    /// <summary>What moved in a report's outputs (a classifier's predicted classes, else the output indices), "no", or "-" when none were judged.</summary>
    private static string PredictionDrift(System.Text.Json.JsonElement d)
    {
        if (!d.TryGetProperty("predictionDrift", out var drifted) || !drifted.GetBoolean()) return d.TryGetProperty("outputsJudged", out var judged) && judged.GetInt32() > 0 ? "no" : "-";
        var classes = d.TryGetProperty("classOutputs", out var c) && c.GetBoolean();
        var moved = d.GetProperty("driftedOutputs").EnumerateArray().Select(o => FormattableString.Invariant(
            $"{(classes ? "predicted classes" : "output " + o.GetProperty("feature").GetInt32())} ({o.GetProperty("method").GetString()} {o.GetProperty("score").GetDouble():G3})"));
        return "[red]yes: " + Markup.Escape(string.Join(", ", moved)) + "[/]";
    }
}
