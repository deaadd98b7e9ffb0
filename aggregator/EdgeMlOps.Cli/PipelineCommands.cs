using System.CommandLine;
using System.Text.Json;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary>
/// <c>edgemlops pipeline status|history|run|approve|pause|resume|stop</c>: the automated retraining pipeline — its
/// policy, the active run's timeline and gate verdicts, and an operator's or approver's hand on it.
/// </summary>
internal static class PipelineCommands
{
    public static Command Pipeline(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var runId = new Argument<string?>("run") { Description = "Run id (default: the active or newest run)", Arity = ArgumentArity.ZeroOrOne };

        var status = new Command("status", "The policy, paused or not, and the active (or newest) run: its timeline and gate verdicts") { runId };
        status.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var view = await client(r).GetAsync("/v1/admin/pipeline", ct).ConfigureAwait(false);
            var policy = view.GetProperty("policy");
            var paused = view.GetProperty("paused").GetBoolean();
            output.MarkupLine($"pipeline [bold]{(policy.GetProperty("enabled").GetBoolean() ? "enabled" : "triggers off (manual runs only)")}[/]{(paused ? $", [yellow]paused by {Cli.Cell(view, "pausedBy")}[/]" : string.Empty)}: " +
                $"{Cli.Cell(policy, "rounds")} rounds, {Cli.Cell(policy, "approvals")} approval(s), fresh labels {Cli.Cell(policy, "freshLabels")}");
            JsonElement? run = r.GetValue(runId) is { } id
                ? await client(r).GetAsync($"/v1/admin/pipeline/runs/{Uri.EscapeDataString(id)}", ct).ConfigureAwait(false)
                : view.GetProperty("active").ValueKind == JsonValueKind.Object ? view.GetProperty("active")
                : view.GetProperty("recent").GetArrayLength() > 0 ? view.GetProperty("recent")[0] : null;
            if (run is { } shown) Run(output, shown);
            else output.MarkupLine("[grey]no runs yet[/]");
        }));

        var history = new Command("history", "Recent runs: trigger, candidate, outcome");
        history.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var view = await client(r).GetAsync("/v1/admin/pipeline", ct).ConfigureAwait(false);
            var table = new Table().AddColumns("Run", "Started", "Trigger", "Base", "Candidate", "Stage", "Note");
            foreach (var run in view.GetProperty("recent").EnumerateArray())
            {
                table.AddRow(Cli.Cell(run, "id"), Cli.Cell(run, "startedAt"), Cli.Cell(run.GetProperty("trigger"), "kind"), Cli.Cell(run, "baseVersion"), Cli.Cell(run, "candidate"),
                    Stage(Cli.Cell(run, "stage")), Cli.Cell(run, "note"));
            }

            output.Write(table);
        }));

        var start = new Command("run", "Start a run now (trains from the deployed version; same gates, approvals and rollout as a triggered run)") { reason };
        start.SetAction((r, ct) => Cli.Run(console, async () => Run(output, await client(r).PostAsync("/v1/admin/pipeline/runs", Cli.Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));

        var approve = new Command("approve", "Approve the candidate of the run awaiting approval (distinct people when the policy asks for two)") { reason };
        approve.SetAction((r, ct) => Cli.Run(console, async () => Run(output, await client(r).PostAsync("/v1/admin/pipeline/approve", Cli.Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));

        var stop = new Command("stop", "Stop the active run (its rollout is aborted)") { reason };
        stop.SetAction((r, ct) => Cli.Run(console, async () => Run(output, await client(r).PostAsync("/v1/admin/pipeline/stop", Cli.Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));

        var file = new Argument<FileInfo>("policy.json") { Description = "The policy as JSON (what 'pipeline policy show' prints)" };
        var show = new Command("show", "The policy in force and where it comes from (configuration or registry), as JSON");
        show.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var view = await client(r).GetAsync("/v1/admin/pipeline", ct).ConfigureAwait(false);
            output.MarkupLine($"[grey]from {Cli.Cell(view, "policySource")}[/]");
            output.WriteLine(Indented(view.GetProperty("policy")));
        }));
        var set = new Command("set", "Replace the policy (kept in the registry, audited; approvers only)") { file, reason };
        set.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var policy = JsonDocument.Parse(await File.ReadAllTextAsync(r.GetValue(file)!.FullName, ct).ConfigureAwait(false)).RootElement;
            var body = $"{{\"policy\":{policy.GetRawText()},\"reason\":{JsonSerializer.Serialize(r.GetValue(reason)!, CliJson.Default.String)}}}";
            var view = await client(r).PutAsync("/v1/admin/pipeline/policy", body, ct).ConfigureAwait(false);
            output.MarkupLine($"policy from {Cli.Cell(view, "policySource")}: {Cli.Cell(view.GetProperty("policy"), "rounds")} rounds, {Cli.Cell(view.GetProperty("policy"), "approvals")} approval(s)");
        }));
        var reset = new Command("reset", "Go back to the configuration's policy") { reason };
        reset.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var view = await client(r).DeleteAsync($"/v1/admin/pipeline/policy?reason={Uri.EscapeDataString(r.GetValue(reason)!)}", ct).ConfigureAwait(false);
            output.MarkupLine($"policy from {Cli.Cell(view, "policySource")}");
        }));
        var policyCommand = new Command("policy", "The pipeline's policy: show, set from a file, reset to configuration") { show, set, reset };

        var pipeline = new Command("pipeline", "The automated retraining pipeline: triggers, rounds, gates, approvals, shadow and staged rollout") { status, history, start, approve, stop, policyCommand };
        foreach (var action in new[] { "pause", "resume" })
        {
            var command = new Command(action, action == "pause" ? "Pause: no run starts and the active run stops moving" : "Resume triggers and the active run") { reason };
            command.SetAction((r, ct) => Cli.Run(console, async () =>
            {
                var view = await client(r).PostAsync($"/v1/admin/pipeline/{action}", Cli.Reason(r.GetValue(reason)!), ct).ConfigureAwait(false);
                output.MarkupLine(view.GetProperty("paused").GetBoolean() ? "[yellow]paused[/]" : "[green]running[/]");
            }));
            pipeline.Add(command);
        }

        return pipeline;
    }

    private static void Run(IAnsiConsole output, JsonElement run)
    {
        var trigger = run.GetProperty("trigger");
        output.MarkupLine($"run [bold]{Cli.Cell(run, "id")}[/]: {Stage(Cli.Cell(run, "stage"))} — {Cli.Cell(run, "note")}");
        output.MarkupLine($"  trigger {Cli.Cell(trigger, "kind")}: {Cli.Cell(trigger, "detail")}");
        output.MarkupLine($"  from v{Cli.Cell(run, "baseVersion")}, candidate v{Cli.Cell(run, "candidate")}, rollout {Cli.Cell(run, "rolloutId")}");
        if (run.GetProperty("gates").GetArrayLength() > 0)
        {
            var gates = new Table().AddColumns("Gate", "Verdict", "Evidence");
            foreach (var g in run.GetProperty("gates").EnumerateArray())
            {
                gates.AddRow(Cli.Cell(g, "gate"), g.GetProperty("passed").GetBoolean() ? "[green]pass[/]" : "[red]FAIL[/]", Cli.Cell(g, "detail"));
            }

            output.Write(gates);
        }

        var steps = new Table().AddColumns("At", "Step", "By", "Detail");
        foreach (var s in run.GetProperty("steps").EnumerateArray()) steps.AddRow(Cli.Cell(s, "at"), Cli.Cell(s, "step"), Cli.Cell(s, "actor"), Cli.Cell(s, "detail"));
        output.Write(steps);
    }

    private static string Indented(JsonElement element)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true })) element.WriteTo(writer);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Stage(string stage) => stage switch
    {
        "Completed" => "[green]Completed[/]",
        "Stopped" => "[red]Stopped[/]",
        _ => $"[yellow]{stage}[/]",
    };
}
