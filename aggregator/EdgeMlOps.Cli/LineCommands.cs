using System.CommandLine;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary><c>edgemlops lines</c>: the fleet's further models (model lines) — list them, add one at run time, remove one added so.</summary>
internal static class LineCommands
{
    public static Command Lines(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var list = new Command("list", "The fleet's model lines: model, API and console address, cohort, memory request, configured or added, who takes their updates");
        list.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var table = new Table().AddColumns("Line", "Model", "API and console", "Cohort", "Memory (MiB)", "Source", "Updates taken by");
            foreach (var line in (await client(r).GetAsync("/v1/admin/lines", ct).ConfigureAwait(false)).EnumerateArray())
            {
                var cohort = string.Join("; ", line.GetProperty("cohort").EnumerateObject().Select(t => $"{t.Name}={string.Join(',', t.Value.EnumerateArray().Select(v => v.GetString()))}"));
                var starved = line.TryGetProperty("replicasStarved", out var names) ? string.Join(", ", names.EnumerateArray().Select(n => n.GetString())) : string.Empty;
                var updates = Cli.Cell(line, "updates") + (starved.Length > 0 ? $" [red]— starved: {Markup.Escape(starved)} (write the broker's configuration again)[/]" : string.Empty);
                table.AddRow(Cli.Cell(line, "name"), Cli.Cell(line, "model"), Cli.Cell(line, "url"), Markup.Escape(cohort.Length > 0 ? cohort : "every device"), Cli.Cell(line, "memoryMb"), Cli.Cell(line, "source"), updates);
            }

            output.Write(table);
        }));

        var name = new Argument<string>("name") { Description = "The line's name: a topic segment, its registry name, how devices' local APIs address it" };
        var file = new Option<FileInfo?>("--file") { Description = "The model's ONNX file (or --set Model=mlp-6-8-2 for a generated one)" };
        var set = new Option<string[]>("--set") { Description = "KEY=VALUE (repeatable), a setting of Aggregator:Lines:NAME: HttpUrl=https://127.0.0.1:8444 (required), Cohort:TAG=V1,V2, MemoryMb=96, ModelInterface:…, Rounds:…" };
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var add = new Command("add", "Add a model to the fleet as a new line, now: read by the configuration's rules, started, announced to devices, kept for the next start") { name, file, set, reason };
        add.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var query = string.Concat((r.GetValue(set) ?? []).Select(s => "&set=" + Uri.EscapeDataString(s)));
            var body = r.GetValue(file) is { } onnx ? await File.ReadAllBytesAsync(onnx.FullName, ct).ConfigureAwait(false) : [];
            var added = await client(r).PostBytesAsync($"/v1/admin/lines/{Uri.EscapeDataString(r.GetValue(name)!)}?reason={Uri.EscapeDataString(r.GetValue(reason)!)}{query}", body, ct).ConfigureAwait(false);
            var line = added.GetProperty("line");
            output.MarkupLine($"added model line [bold]{Cli.Cell(line, "name")}[/] ({Cli.Cell(line, "model")}); its API and console: {Cli.Cell(line, "url")}");
            if (added.TryGetProperty("notice", out var notice) && notice.GetString() is { } text) output.MarkupLine($"[yellow]{Markup.Escape(text)}[/]");
        }));

        var remove = new Command("remove", "Stop a line added at run time and take it off devices (its data stays; a configured line is removed from the configuration)") { name, reason };
        remove.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            await client(r).DeleteAsync($"/v1/admin/lines/{Uri.EscapeDataString(r.GetValue(name)!)}?reason={Uri.EscapeDataString(r.GetValue(reason)!)}", ct).ConfigureAwait(false);
            output.MarkupLine($"removed model line [bold]{Markup.Escape(r.GetValue(name)!)}[/]");
        }));

        return new Command("lines", "The fleet's further models (model lines): list, add at run time, remove") { list, add, remove };
    }
}
