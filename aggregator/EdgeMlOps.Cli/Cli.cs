using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace EdgeMlOps.Cli;

/// <summary>
/// <c>edgemlops</c>: the operator's command line over the aggregator's admin API. models
/// list/show/approve/reject/card/upload/check (offline), rollouts create/status/advance/pause/resume/abort,
/// audit verify/list, keys rotate, devices list/token/revoke, security events, lines list/add/remove. Exit codes: 0 done, 1 the API refused (its message is
/// printed), 2 bad usage, 3 the aggregator could not be reached.
/// </summary>
public static class Cli
{
    public static async Task<int> RunAsync(string[] args, IAnsiConsole console, HttpMessageHandler? handler = null, CancellationToken cancellationToken = default)
    {
        var url = new Option<string>("--url") { Description = "Aggregator base URL (or EDGEMLOPS_URL)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EDGEMLOPS_URL") ?? ApiHttp.DefaultUrl, Recursive = true };
        var ca = new Option<FileInfo?>("--ca") { Description = $"Fleet CA certificate to pin for https (or EDGEMLOPS_CA; default {ApiHttp.DefaultCaFile} when it exists)", DefaultValueFactory = _ => ApiHttp.DefaultCa(), Recursive = true };
        var token = new Option<string?>("--token") { Description = "Admin bearer token (or EDGEMLOPS_TOKEN)", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("EDGEMLOPS_TOKEN"), Recursive = true };
        var model = new Option<string>("--model") { Description = "Model name", DefaultValueFactory = _ => "digits", Recursive = true };
        var reason = new Option<string>("--reason") { Description = "Why (recorded in the audit log)", Required = true };
        var version = new Argument<ulong>("version") { Description = "Model version" };
        var rolloutId = new Argument<string>("id") { Description = "Rollout id" };
        var json = new Option<bool>("--json") { Description = "Print the API's JSON answers instead of tables", Recursive = true };

        // With --json the answers go to the terminal as they came and the tables to nowhere; errors still show.
        var output = args.Contains("--json") ? AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) }) : console;
        var echo = args.Contains("--json") ? console.Profile.Out.Writer : null;

        AdminClient Client(ParseResult r)
        {
            var baseUrl = new Uri(r.GetValue(url)!);
            var http = handler is null ? ApiHttp.Create(baseUrl, r.GetValue(ca)) : new HttpClient(handler, disposeHandler: false);
            http.BaseAddress = baseUrl;
            return new AdminClient(http, r.GetValue(token)) { Echo = echo };
        }

        string M(ParseResult r) => Uri.EscapeDataString(r.GetValue(model)!);

        // ---- models ----
        var newest = new Option<int>("--limit") { Description = "The newest N versions (the API answers at most 100,000 at once)", DefaultValueFactory = _ => 50 };
        var list = new Command("list", "List the newest versions with their registry state") { newest };
        list.SetAction((r, ct) => Run(console, async () => Versions(output, await Client(r).GetAsync($"/v1/admin/models/{M(r)}/versions?limit={r.GetValue(newest)}", ct).ConfigureAwait(false))));
        var show = new Command("show", "Show one version with its per-cohort evaluation") { version };
        show.SetAction((r, ct) => Run(console, async () => Version(output, await Client(r).GetAsync($"/v1/admin/models/{M(r)}/versions/{r.GetValue(version)}", ct).ConfigureAwait(false))));
        var approve = new Command("approve", "Approve a version (never one you created)") { version, reason };
        approve.SetAction((r, ct) => Run(console, async () => Changed(output, await Client(r).PostAsync($"/v1/admin/models/{M(r)}/versions/{r.GetValue(version)}/approve", Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));
        var reject = new Command("reject", "Reject a version (final)") { version, reason };
        reject.SetAction((r, ct) => Run(console, async () => Changed(output, await Client(r).PostAsync($"/v1/admin/models/{M(r)}/versions/{r.GetValue(version)}/reject", Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));
        var html = new Option<bool>("--html") { Description = "HTML instead of Markdown" };
        var outFile = new Option<FileInfo?>("--out") { Description = "Write to this file instead of the terminal" };
        var card = new Command("card", "The version's model card") { version, html, outFile };
        card.SetAction((r, ct) => Run(console, async () =>
        {
            var text = await Client(r).GetTextAsync($"/v1/admin/models/{M(r)}/versions/{r.GetValue(version)}/card{(r.GetValue(html) ? "?format=html" : string.Empty)}", ct).ConfigureAwait(false);
            if (r.GetValue(outFile) is { } file) await File.WriteAllTextAsync(file.FullName, text, ct).ConfigureAwait(false);
            else console.Profile.Out.Writer.Write(text);
        }));
        var onnx = new Argument<FileInfo>("file") { Description = "Inference ONNX model" };
        var upload = new Command("upload", "Register a model trained elsewhere as the next version (you become its creator)") { onnx, reason };
        upload.SetAction((r, ct) => Run(console, async () =>
        {
            var bytes = await File.ReadAllBytesAsync(r.GetValue(onnx)!.FullName, ct).ConfigureAwait(false);
            Changed(output, await Client(r).PostBytesAsync($"/v1/admin/models/{M(r)}/versions?reason={Uri.EscapeDataString(r.GetValue(reason)!)}", bytes, ct).ConfigureAwait(false));
        }));
        var models = new Command("models", "Registry versions, approval, model cards, explanations") { list, show, approve, reject, card, upload, ModelCheckCommand.Create(console), ExplainCommands.Explain(console, output, Client, M) };

        // ---- rollouts ----
        var stages = new Option<string?>("--stages") { Description = "Cumulative shares, e.g. 0.01,0.1,0.5,1" };
        var exponential = new Option<string?>("--exponential") { Description = "START,FACTOR: an exponential rate, e.g. 0.01,10" };
        var cohort = new Option<string[]>("--cohort") { Description = "TAG=V1,V2 (repeatable): devices must match every tag", AllowMultipleArgumentsPerToken = false };
        var window = new Option<int>("--window") { Description = "Health window on each device, seconds", DefaultValueFactory = _ => 60 };
        var maxFailure = new Option<double>("--max-failure") { Description = "Failed or rolled-back share that aborts", DefaultValueFactory = _ => 0.05 };
        var maxDrop = new Option<double>("--max-accuracy-drop") { Description = "Ground-truth accuracy drop against the replaced version that aborts", DefaultValueFactory = _ => 0.05 };
        var stratify = new Option<string?>("--stratify-by") { Description = "A device tag (e.g. hw): the accuracy gate compares versions within each of its values and fails a stage confidently worse on any one" };
        var latency = new Option<double>("--latency-budget") { Description = "p95 inference latency budget on the device, ms (0: none)" };
        var manual = new Option<bool>("--manual") { Description = "Do not open the next stage automatically when the gates pass" };
        var shadow = new Option<double>("--shadow") { Description = "Shadow the version first on this share of the cohort (e.g. 0.05): devices score requests with it without serving it" };
        var shadowSample = new Option<double>("--shadow-sample-rate") { Description = "Share of each shadow device's requests scored", DefaultValueFactory = _ => 1.0 };
        var shadowScored = new Option<long>("--shadow-min-scored") { Description = "Requests scored in the shadow before its gate judges", DefaultValueFactory = _ => 200 };
        var shadowAgreement = new Option<double>("--shadow-min-agreement") { Description = "Agreement with the served version needed when too few labels arrive (0: not judged)" };
        var shadowUnlabelled = new Option<bool>("--shadow-without-labels") { Description = "The fleet has no ground truth: do not wait for labelled shadow requests" };
        var ab = new Option<double>("--ab") { Description = "A/B test the version first on this share of the cohort (e.g. 0.1): a split of their requests is answered by it" };
        var abSplit = new Option<double>("--ab-split") { Description = "Share of each device's requests answered by the version", DefaultValueFactory = _ => 0.5 };
        var abMode = new Option<string>("--ab-mode") { Description = "sequential (read at every look, may stop early), fixed (read once at the computed sample size) or bandit (Thompson sampling moves the split)", DefaultValueFactory = _ => "sequential" };
        var abBaseline = new Option<double>("--ab-baseline") { Description = "Expected accuracy of the served version (sizes the test)", DefaultValueFactory = _ => 0.8 };
        var abEffect = new Option<double>("--ab-min-effect") { Description = "Smallest difference worth detecting, in the metric's units (sizes the test)", DefaultValueFactory = _ => 0.05 };
        var abUnit = new Option<string>("--ab-unit") { Description = "request (both arms on every device, split per request) or device (each device answers every request with one arm)", DefaultValueFactory = _ => "request" };
        var abIcc = new Option<double?>("--ab-icc") { Description = "With --ab-unit device: expected correlation of outcomes within a device, in [0, 1) (with --ab-labels-per-device, inflates the sample size by the design effect 1 + (m − 1)ρ)" };
        var abPerDevice = new Option<double?>("--ab-labels-per-device") { Description = "With --ab-unit device and --ab-icc: expected labelled predictions per device during the test" };
        var abSd = new Option<double?>("--ab-sd") { Description = "With --ab-metric cost:… or mse: the expected standard deviation of one labelled prediction's cost or squared error (sizes the test)" };
        var abMetric = new Option<string>("--ab-metric") { Description = "What the A/B test or bandit compares: accuracy, share:C (share of requests answered with class C) cost:TRUE>PREDICTED=COST,… (mean cost per labelled prediction; not with the bandit), or mse for a regressor or multi-label classifier (with --ab-lower-is-better and --ab-sd)", DefaultValueFactory = _ => "accuracy" };
        var abLower = new Option<bool>("--ab-lower-is-better") { Description = "With --ab-metric share:C, cost:… or mse: lower is better" };
        var create = new Command("create", "Start a staged rollout of a version") { version, stages, exponential, cohort, window, maxFailure, maxDrop, stratify, latency, manual, shadow, shadowSample, shadowScored, shadowAgreement, shadowUnlabelled, ab, abSplit, abMode, abBaseline, abEffect, abSd, abMetric, abLower, abUnit, abIcc, abPerDevice, reason };
        create.SetAction((r, ct) => Run(console, async () =>
        {
            var shadowing = r.GetValue(shadow) is > 0 and var share
                ? new ShadowArgs(share, r.GetValue(shadowSample), r.GetValue(shadowScored), r.GetValue(shadowAgreement), !r.GetValue(shadowUnlabelled))
                : null;
            var testing = r.GetValue(ab) is > 0 and var abShare
                ? new AbArgs(abShare, r.GetValue(abSplit), r.GetValue(abMode) switch { "sequential" => "Sequential", "fixed" => "FixedHorizon", "bandit" => "Bandit", var m => throw new FormatException($"--ab-mode '{m}' is not sequential, fixed or bandit") }, r.GetValue(abBaseline), r.GetValue(abEffect), r.GetValue(abMetric) ?? "accuracy", !r.GetValue(abLower), r.GetValue(abSd),
                    r.GetValue(abUnit) switch { "request" => "Request", "device" => "Device", var u => throw new FormatException($"--ab-unit '{u}' is not request or device") }, r.GetValue(abIcc), r.GetValue(abPerDevice))
                : null;
            var body = RolloutRequestJson.Body(r.GetValue(version), r.GetValue(stages), r.GetValue(exponential), r.GetValue(cohort) ?? [], r.GetValue(window), r.GetValue(maxFailure), r.GetValue(maxDrop), r.GetValue(latency), !r.GetValue(manual), r.GetValue(reason)!, shadowing, testing, r.GetValue(stratify));
            Rollout(output, await Client(r).PostAsync("/v1/admin/rollouts", body, ct).ConfigureAwait(false));
        }));
        var optionalId = new Argument<string?>("id") { Description = "Rollout id (default: the latest)", Arity = ArgumentArity.ZeroOrOne };
        var watch = new Option<bool>("--watch") { Description = "Follow progress until the rollout completes or aborts" };
        var status = new Command("status", "Per-stage progress and the gate reading") { optionalId, watch };
        status.SetAction((r, ct) => Run(console, async () =>
        {
            var client = Client(r);
            async Task<JsonElement?> Fetch()
            {
                if (r.GetValue(optionalId) is { } id) return await client.GetAsync($"/v1/admin/rollouts/{Uri.EscapeDataString(id)}", ct).ConfigureAwait(false);
                var all = await client.GetAsync("/v1/admin/rollouts", ct).ConfigureAwait(false);
                return all.GetArrayLength() == 0 ? null : all[all.GetArrayLength() - 1];
            }

            if (await Fetch().ConfigureAwait(false) is not { } view)
            {
                output.MarkupLine("[grey]no rollouts yet[/]");
                return;
            }

            if (!r.GetValue(watch))
            {
                Rollout(output, view);
                return;
            }

            await output.Progress().AutoClear(false).StartAsync(async progress =>
            {
                var bars = new Dictionary<int, ProgressTask>();
                while (true)
                {
                    foreach (var stage in view.GetProperty("stages").EnumerateArray())
                    {
                        var n = stage.GetProperty("stage").GetInt32();
                        if (!bars.TryGetValue(n, out var bar)) bars[n] = bar = progress.AddTask($"stage {n} ({stage.GetProperty("share").GetDouble():P0})");
                        bar.MaxValue = Math.Max(1, stage.GetProperty("targeted").GetInt32());
                        bar.Value = stage.GetProperty("healthy").GetInt32() + stage.GetProperty("failed").GetInt32() + stage.GetProperty("rolledBack").GetInt32();
                    }

                    var state = view.GetProperty("rollout").GetProperty("state").GetString();
                    if (state is "Completed" or "Aborted") break;
                    await Task.Delay(1000, ct).ConfigureAwait(false);
                    view = await Fetch().ConfigureAwait(false) ?? view;
                }
            }).ConfigureAwait(false);
            Rollout(output, view);
        }));
        var rollouts = new Command("rollouts", "Staged rollouts") { create, status };
        foreach (var action in new[] { "advance", "pause", "resume", "abort", "rollback" })
        {
            var command = new Command(action, action == "rollback" ? "Take a completed rollout back: devices return to the version it replaced" : $"{char.ToUpperInvariant(action[0])}{action[1..]} a rollout") { rolloutId, reason };
            command.SetAction((r, ct) => Run(console, async () =>
                Rollout(output, await Client(r).PostAsync($"/v1/admin/rollouts/{Uri.EscapeDataString(r.GetValue(rolloutId)!)}/{action}", Reason(r.GetValue(reason)!), ct).ConfigureAwait(false))));
            rollouts.Subcommands.Add(command);
        }

        // ---- audit, keys ----
        var verify = new Command("verify", "Recompute the audit log's hash chain");
        verify.SetAction((r, ct) => Run(console, async () =>
        {
            var result = await Client(r).GetAsync("/v1/admin/audit/verify", ct).ConfigureAwait(false);
            var intact = result.GetProperty("intact").GetBoolean();
            output.MarkupLine(intact
                ? $"[green]intact[/]: {result.GetProperty("entries").GetInt64()} entries, head {result.GetProperty("headHash").GetString()}"
                : $"[red]BROKEN[/] at entry {result.GetProperty("firstBadSequence")}: {Markup.Escape(result.GetProperty("problem").GetString() ?? string.Empty)}");
            if (!intact) throw new AdminApiException(0, "audit log verification failed");
        }));
        var subject = new Option<string?>("--subject") { Description = "Only entries whose subject starts with this (e.g. rollout/)" };
        var auditList = new Command("list", "Audit entries") { subject };
        auditList.SetAction((r, ct) => Run(console, async () =>
        {
            var query = r.GetValue(subject) is { } s ? "?subject=" + Uri.EscapeDataString(s) : string.Empty;
            var table = new Table().AddColumns("#", "When (UTC)", "Who", "Action", "Subject", "Before → after", "Why");
            foreach (var e in (await Client(r).GetAsync("/v1/admin/audit" + query, ct).ConfigureAwait(false)).EnumerateArray())
            {
                table.AddRow(Cell(e, "sequence"), Cell(e, "at"), Cell(e, "actor"), Cell(e, "action"), Cell(e, "subject"), $"{Cell(e, "before")} → {Cell(e, "after")}", Cell(e, "reason"));
            }

            output.Write(table);
        }));
        var audit = new Command("audit", "The hash-chained audit log") { verify, auditList };
        var revokeOld = new Option<bool>("--revoke-old") { Description = "Revoke the key being replaced" };
        var rotate = new Command("rotate", "Certify a new signing key under the root") { revokeOld, reason };
        rotate.SetAction((r, ct) => Run(console, async () =>
        {
            var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["revokeOld"] = r.GetValue(revokeOld), ["reason"] = r.GetValue(reason)! }, CliJson.Default.DictionaryStringObject);
            var result = await Client(r).PostAsync("/v1/admin/keys/rotate", body, ct).ConfigureAwait(false);
            output.MarkupLine($"signing key [bold]{result.GetProperty("signingKey").GetString()}[/], trust bundle v{result.GetProperty("bundleVersion").GetUInt64()}");
        }));
        var keys = new Command("keys", "Signing keys") { rotate };

        var root = new RootCommand("edgemlops: operate an EdgeMlOps fleet through the aggregator's admin API") { models, rollouts, audit, keys, SecurityCommands.Devices(console, output, Client), SecurityCommands.Security(console, output, Client), FleetCommands.Rounds(console, output, Client, M), FleetCommands.Drift(console, output, Client), ExplainCommands.Evaluate(console, output, Client), ExperimentCommands.Experiments(console, output), ExperimentCommands.Reproduce(console), PipelineCommands.Pipeline(console, output, Client), LineCommands.Lines(console, output, Client) };
        root.Options.Add(url);
        root.Options.Add(ca);
        root.Options.Add(token);
        root.Options.Add(model);
        root.Options.Add(json);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) console.MarkupLine($"[red]{Markup.Escape(error.Message)}[/]");
            return 2;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { Output = console.Profile.Out.Writer, Error = console.Profile.Out.Writer }, cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<int> Run(IAnsiConsole console, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
            return 0;
        }
        catch (AdminApiException ex)
        {
            console.MarkupLine(ex.Status == 0 ? $"[red]{Markup.Escape(ex.Message)}[/]" : $"[red]{ex.Status}[/]: {Markup.Escape(ex.Message)}");
            if (ex.Status == 401) console.MarkupLine("Pass an admin token with --token TOKEN or EDGEMLOPS_TOKEN (one of the aggregator's Aggregator:Admin:Tokens).");
            return 1;
        }
        catch (HttpRequestException ex) when (ex.InnerException is System.Security.Authentication.AuthenticationException)
        {
            console.MarkupLine($"[red]the aggregator's certificate is not trusted[/]: {Markup.Escape(EdgeMlOps.Shared.Diagnostics.FailureReasons.Describe(ex))}. Pass its fleet CA with --ca (e.g. --ca {ApiHttp.DefaultCaFile}) or EDGEMLOPS_CA.");
            return 3;
        }
        catch (HttpRequestException ex)
        {
            console.MarkupLine($"[red]cannot reach the aggregator[/]: {Markup.Escape(EdgeMlOps.Shared.Diagnostics.FailureReasons.Describe(ex))}");
            if (ex.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.InvalidResponse)
                console.MarkupLine($"Something answered that is not the aggregator's API over that scheme: check --url (by default {ApiHttp.DefaultUrl}; the broker's port is not the API's).");
            return 3;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or IOException)
        {
            console.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return 2;
        }
    }

    internal static string Reason(string reason) =>
        JsonSerializer.Serialize(new Dictionary<string, object> { ["reason"] = reason }, CliJson.Default.DictionaryStringObject);

    internal static string Cell(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? Markup.Escape(v.ValueKind switch
        {
            JsonValueKind.Null or JsonValueKind.Undefined => "-",
            JsonValueKind.Number when v.TryGetInt64(out var l) => l.ToString(CultureInfo.InvariantCulture),
            JsonValueKind.Number => v.GetDouble().ToString("0.####", CultureInfo.InvariantCulture),
            _ => v.ToString(),
        }) : "-";

    private static void Versions(IAnsiConsole console, JsonElement versions)
    {
        var table = new Table().AddColumns("Version", "State", "Created by", "Created (UTC)", "Round", "Devices", "Samples", "Accuracy", "Why");
        foreach (var v in versions.EnumerateArray())
        {
            var state = Cell(v, "state");
            var colour = state switch { "deployed" => "green", "approved" => "blue", "rejected" => "red", "archived" => "grey", _ => "yellow" };
            var pruned = v.TryGetProperty("artifactsPrunedAt", out var at) && at.ValueKind == JsonValueKind.String ? " [grey](files pruned)[/]" : string.Empty; // Registry:KeepVersions
            table.AddRow(Cell(v, "version"), $"[{colour}]{state}[/]{pruned}", Cell(v, "createdBy"), Cell(v, "createdAt"), Cell(v, "round"), Cell(v, "contributors"), Cell(v, "samples"), Cell(v, "evalAccuracy"), Cell(v, "stateReason"));
        }

        console.Write(table);
    }

    private static void Version(IAnsiConsole console, JsonElement body)
    {
        var v = body.GetProperty("version");
        var grid = new Grid().AddColumn().AddColumn();
        foreach (var name in new[] { "model", "version", "parent", "state", "stateReason", "createdBy", "createdAt", "round", "contributors", "samples", "evalAccuracy", "inferenceSha256", "trainStepSha256", "artifactsPrunedAt" })
        {
            grid.AddRow($"[bold]{name}[/]", Cell(v, name));
        }

        console.Write(grid);
        if (body.TryGetProperty("evaluation", out var cohorts) && cohorts.ValueKind == JsonValueKind.Array)
        {
            var table = new Table().AddColumns("Cohort", "Samples", "Accuracy", "Live", "Change", "Gated");
            foreach (var c in cohorts.EnumerateArray()) table.AddRow(Cell(c, "cohort"), Cell(c, "samples"), Cell(c, "candidate"), Cell(c, "live"), Cell(c, "delta"), Cell(c, "gated"));
            console.Write(table);
        }
    }

    private static void Changed(IAnsiConsole console, JsonElement v) =>
        console.MarkupLine($"{Cell(v, "model")} v{Cell(v, "version")}: [bold]{Cell(v, "state")}[/] ({Cell(v, "stateReason")})");

    private static void Rollout(IAnsiConsole console, JsonElement view)
    {
        var r = view.GetProperty("rollout");
        var gate = view.GetProperty("gate");
        console.MarkupLine($"rollout [bold]{Cell(r, "id")}[/]: v{Cell(r.GetProperty("request"), "version")} [bold]{Cell(r, "state")}[/], stage {r.GetProperty("stage").GetInt32() + 1}/{r.GetProperty("stages").GetArrayLength()}, revision {Cell(r, "revision")} — {Cell(r, "note")}");
        var table = new Table().AddColumns("Stage", "Share", "Open", "Targeted", "Installed", "Healthy", "Failed", "Rolled back");
        foreach (var s in view.GetProperty("stages").EnumerateArray())
        {
            table.AddRow(Cell(s, "stage"), s.GetProperty("share").GetDouble().ToString("P1", CultureInfo.InvariantCulture), Cell(s, "open"), Cell(s, "targeted"), Cell(s, "installed"), Cell(s, "healthy"), Cell(s, "failed"), Cell(s, "rolledBack"));
        }

        console.Write(table);
        if (view.TryGetProperty("shadow", out var shadow) && shadow.ValueKind == JsonValueKind.Object)
        {
            // A regressor's shadow compares values and squared errors; a classifier's, classes and accuracy.
            var values = shadow.TryGetProperty("meanValueDifference", out var difference) && difference.ValueKind == JsonValueKind.Number;
            console.MarkupLine($"shadow: {Cell(shadow, "scored")} requests scored on {Cell(shadow, "devices")} devices ({Cell(shadow, "skipped")} skipped, {Cell(shadow, "failed")} could not load it), " +
                (values
                    ? $"mean |difference| {Cell(shadow, "meanValueDifference")}, MSE {Cell(shadow, "candidateMse")} vs {Cell(shadow, "incumbentMse")} on {Cell(shadow, "labelled")} labelled, "
                    : $"agreement {Cell(shadow, "agreement")}, mean distance {Cell(shadow, "meanDistance")}, accuracy {Cell(shadow, "candidateAccuracy")} vs {Cell(shadow, "incumbentAccuracy")} on {Cell(shadow, "labelled")} labelled, ") +
                $"p95 {Cell(shadow, "candidateLatencyP95")} vs {Cell(shadow, "incumbentLatencyP95")} ms");
        }

        if (view.TryGetProperty("experiment", out var test) && test.ValueKind == JsonValueKind.Object)
        {
            var reading = test.GetProperty("reading");
            console.MarkupLine($"A/B test: {Cell(test, "devices")} devices, {Cell(test, "servedA")} requests to A, {Cell(test, "servedB")} to B; {Cell(test, "metric")} B {Cell(test, "valueB")} ({Cell(reading, "labelledB")}) vs A {Cell(test, "valueA")} ({Cell(reading, "labelledA")}), p = {Cell(reading, "pValue")}, horizon {Cell(reading, "horizon")} per arm");
        }

        var errors = gate.TryGetProperty("targetSquaredError", out var te) && te.ValueKind == JsonValueKind.Number || gate.TryGetProperty("baselineSquaredError", out var be) && be.ValueKind == JsonValueKind.Number;
        var truth = errors ? $"squared error {Cell(gate, "targetSquaredError")} vs {Cell(gate, "baselineSquaredError")}" : $"accuracy {Cell(gate, "targetAccuracy")} vs {Cell(gate, "baselineAccuracy")}";
        console.MarkupLine($"gate: {Cell(gate, "verdict")} (reporting {Cell(gate, "reporting")}/{Cell(gate, "targeted")}, {truth}, p95 {Cell(gate, "targetLatencyP95")} vs {Cell(gate, "baselineLatencyP95")} ms)");
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, object>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(bool))]
[System.Text.Json.Serialization.JsonSerializable(typeof(double))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
[System.Text.Json.Serialization.JsonSerializable(typeof(int[]))]
internal sealed partial class CliJson : System.Text.Json.Serialization.JsonSerializerContext;
