using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary>
/// <c>edgemlops models explain VERSION</c> (what a version relies on and how it does per subpopulation) and
/// <c>edgemlops evaluate</c> (a federated evaluation of the training head, optionally measuring importance on devices).
/// </summary>
internal static class ExplainCommands
{
    public static Command Explain(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client, Func<ParseResult, string> model)
    {
        var version = new Argument<ulong>("version") { Description = "Model version" };
        var top = new Option<int>("--top") { Description = "Inputs to list", DefaultValueFactory = _ => 10 };
        var explain = new Command("explain", "What a version relies on (permutation importance on held-out data and on devices) and its subpopulation gaps") { version, top };
        explain.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var view = await client(r).GetAsync($"/v1/admin/models/{model(r)}/versions/{r.GetValue(version)}/explanation", ct).ConfigureAwait(false);
            var heldOut = view.TryGetProperty("heldOut", out var h) && h.ValueKind == JsonValueKind.Object ? h : (JsonElement?)null;
            var federated = view.TryGetProperty("federated", out var f) && f.ValueKind == JsonValueKind.Object ? f : (JsonElement?)null;
            var onDevices = federated?.GetProperty("importance").EnumerateArray().ToDictionary(i => i.GetProperty("input").GetInt32(), i => i) ?? [];
            var ranked = (heldOut ?? federated)!.Value.GetProperty("importance").EnumerateArray()
                .OrderByDescending(i => Number(i, "mean")).ThenBy(i => i.GetProperty("input").GetInt32()).Take(r.GetValue(top));
            var table = new Table().AddColumns("Input", "Held-out importance", "Std", "On devices");
            foreach (var i in ranked)
            {
                var input = i.GetProperty("input").GetInt32();
                table.AddRow(input.ToString(CultureInfo.InvariantCulture), heldOut is null ? "-" : Cli.Cell(i, "mean"), heldOut is null ? "-" : Cli.Cell(i, "stdDev"),
                    onDevices.TryGetValue(input, out var d) ? Cli.Cell(d, "mean") : "-");
            }

            output.Write(table);
            if (heldOut is { } e && e.TryGetProperty("gaps", out var gaps))
            {
                var gapTable = new Table().AddColumns("Attribute", "Metric", "Gap", "Lowest", "Highest");
                foreach (var g in gaps.EnumerateArray()) gapTable.AddRow(Cli.Cell(g, "attribute"), Cli.Cell(g, "metric"), Cli.Cell(g, "gap"), Cli.Cell(g, "lowest"), Cli.Cell(g, "highest"));
                output.Write(gapTable);
            }
        }));
        return explain;
    }

    public static Command Evaluate(IAnsiConsole console, IAnsiConsole output, Func<ParseResult, AdminClient> client)
    {
        var devices = new Option<int>("--devices") { Description = "Devices to ask", DefaultValueFactory = _ => 100 };
        var importance = new Option<bool>("--importance") { Description = "Also measure permutation importance on the devices' own rows (the held-out explanation's top inputs, or all of a narrow model)" };
        var inputs = new Option<string?>("--inputs") { Description = "Inputs to measure importance of, e.g. 0,3,7 (implies --importance)" };
        var dependence = new Option<string?>("--dependence") { Description = "Inputs to measure partial dependence of on the devices, e.g. 0,3 (grid from the version's training-sample sketches)" };
        var evaluate = new Command("evaluate", "Score the training head on devices' own labelled data (nothing leaves a device but counts and sums)") { devices, importance, inputs, dependence };
        evaluate.SetAction((r, ct) => Cli.Run(console, async () =>
        {
            var listed = Inputs(r.GetValue(inputs));
            var body = JsonSerializer.Serialize(Body(r.GetValue(devices), r.GetValue(importance) || listed is not null, listed, Inputs(r.GetValue(dependence))), CliJson.Default.DictionaryStringObject);
            var report = await client(r).PostAsync("/v1/admin/evaluations", body, ct).ConfigureAwait(false);
            output.MarkupLine($"v{Cli.Cell(report, "version")}: {Cli.Cell(report, "reported")} of {Cli.Cell(report, "selected")} devices answered on {Cli.Cell(report, "samples")} samples — accuracy [bold]{Cli.Cell(report, "accuracy")}[/], loss {Cli.Cell(report, "loss")}");
            if (report.TryGetProperty("importance", out var fleet) && fleet.ValueKind == JsonValueKind.Object)
            {
                var table = new Table().AddColumns("Input", "Importance on devices");
                foreach (var i in fleet.GetProperty("importance").EnumerateArray().OrderByDescending(i => Number(i, "mean"))) table.AddRow(Cli.Cell(i, "input"), Cli.Cell(i, "mean"));
                output.MarkupLine($"measured by {Cli.Cell(fleet, "devices")} devices on {Cli.Cell(fleet, "rows")} rows:");
                if (fleet.TryGetProperty("epsilon", out var epsilon) && epsilon.ValueKind == JsonValueKind.Number)
                {
                    output.MarkupLine($"differentially private: ε = {Cli.Cell(fleet, "epsilon")}, δ = {Cli.Cell(fleet, "delta")}, noise σ = {Cli.Cell(fleet, "noiseStdDev")} on every summed count");
                }

                output.Write(table);
                if (fleet.TryGetProperty("dependence", out var curves) && curves.GetArrayLength() > 0)
                {
                    var pdp = new Table().AddColumns("Input", "Class", "Grid", "Mean probability", "Curve");
                    foreach (var c in curves.EnumerateArray())
                    {
                        var k = c.GetProperty("plottedClass").GetInt32();
                        var values = c.GetProperty("average").EnumerateArray().Select(p => p[k].GetDouble()).ToArray();
                        var grid = c.GetProperty("grid").EnumerateArray().Select(g => g.GetDouble()).ToArray();
                        pdp.AddRow(Cli.Cell(c, "input"), k.ToString(CultureInfo.InvariantCulture), string.Create(CultureInfo.InvariantCulture, $"{grid[0]:G3} … {grid[^1]:G3}"),
                            string.Create(CultureInfo.InvariantCulture, $"{values[0]:F3} → {values[^1]:F3}"), Sparkline.Of(values));
                    }

                    output.Write(pdp);
                }
            }
        }));
        return evaluate;
    }

    private static Dictionary<string, object> Body(int devices, bool importance, int[]? inputs, int[]? dependence)
    {
        var body = new Dictionary<string, object> { ["devices"] = devices, ["importance"] = importance };
        if (inputs is not null) body["importanceInputs"] = inputs;
        if (dependence is not null) body["dependenceInputs"] = dependence;
        return body;
    }

    private static int[]? Inputs(string? text) =>
        text?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    private static double Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NegativeInfinity;
}

