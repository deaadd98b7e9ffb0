using System.Text;
using System.Text.Json;
using EdgeMlOps.Simulator.Data;
using Microsoft.Playwright;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace EdgeMlOps.Console.Tests;

/// <summary>
/// The README's hand-run fleet, run as a new operator types it: the aggregator host and two agent hosts started with
/// the commands of "Running the pieces separately" and "A governed fleet by hand" (their build output, a fresh working
/// directory, relative paths, default ports and settings), MNIST digits posted to each device's <c>/v1/feedback</c>,
/// versions trained by the rounds, v1 approved and rolled out through the CLI, a trained version approved by a second
/// person in the console in Chromium, rolled out in two stages and rolled back — every command taken from the README.
/// </summary>
public sealed class ReadmeWalkthroughTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly Uri Device1 = new("http://127.0.0.1:8090/");
    private static readonly Uri Device2 = new("http://127.0.0.1:8091/");

    private readonly string _work = Path.Combine(Path.GetTempPath(), "edgemlops-readme-" + Guid.NewGuid().ToString("N"));
    private readonly List<HostProcess> _hosts = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            if (host.Lines.Length > 0) output.WriteLine(string.Join('\n', host.Lines.TakeLast(15)));
            host.Dispose();
        }

        _http.Dispose();
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // a host's file still closing: the temp directory is left behind
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task TheReadmesGovernedFleet_TrainsApprovesRollsOutInStagesAndRollsBack_ThroughTheCliAndTheConsole()
    {
        var pieces = ReadmeCommands.Section("## Running the pieces separately");
        var governed = ReadmeCommands.Section("### A governed fleet by hand");

        // The aggregator, governed, with two approvers; then the two devices exactly as the README starts them.
        var aggregator = Start(governed.Single(c => c.Project.EndsWith("Aggregator.Host", StringComparison.Ordinal)));
        await aggregator.WaitForAsync("Aggregator for fleet");
        Start(pieces.Find("--Agent:DeviceId=dev-1"));
        Start(pieces.Find("--Agent:DeviceId=dev-2"));
        await Eventually.Until(async () => await Health(Device1) is { } h && h.GetProperty("connected").GetBoolean(), "dev-1 enrolled and connected", 60);
        await Eventually.Until(async () => await Health(Device2) is { } h && h.GetProperty("connected").GetBoolean(), "dev-2 enrolled and connected", 60);

        // Labelled MNIST digits through each device's local API (different digits on each).
        var mnist = MnistDataset.Load();
        await FeedAsync(Device1, mnist, Enumerable.Range(0, 300).Select(i => i * 31 % mnist.Count));
        await FeedAsync(Device2, mnist, Enumerable.Range(0, 300).Select(i => (i * 31 + 17) % mnist.Count));

        // v1 approved by alice and rolled out to both devices, through the CLI as the README types it.
        await CliAsync(governed.Find("models", "approve", "1"));
        await CliAsync(governed.Find("rollouts", "create", "1"));
        await Eventually.Until(async () => await Version(Device1) == 1 && await Version(Device2) == 1, "both devices serving v1", 90);
        await Eventually.Until(async () => (await LatestRolloutAsync()).State == "Completed", "the v1 rollout completed", 60);

        // The rounds train candidates from the devices' samples; the README's list shows them.
        ulong candidate = 0;
        await Eventually.Until(async () => (candidate = await NewestCandidateAsync()) > 1, "a version trained by the rounds", 120);
        var listed = await CliAsync(governed.Find("models", "list"));
        Assert.Contains("candidate", listed, StringComparison.Ordinal);
        Assert.True(aggregator.Saw("held-out accuracy not measured (no Evaluation:DataFile)"), "a round's log line says why it has no held-out accuracy");
        Assert.False(aggregator.Saw("NaN"), string.Join('\n', aggregator.Lines.Where(l => l.Contains("NaN", StringComparison.Ordinal))));
        Assert.False(aggregator.Saw("RoundClosed"), "an over-selected device's late update is counted, not warned about every round");

        // A second person approves it — bob, in the console (the README's CLI line for bob does the same).
        _ = governed.Find("models", "approve", "VERSION");
        // Bob's browser trusts the fleet CA as an operator's would after importing aggregator-data/pki/ca.crt: the console's
        // certificate must verify for https://127.0.0.1:8443/ with no error ignored.
        await using var browser = await ConsoleBrowser.LaunchAsync(trustedCa: Path.Combine(_work, "aggregator-data", "pki", "ca.crt"));
        var console = new Uri("https://127.0.0.1:8443/");
        var bob = await browser.SignInAsync(console, "bob-secret");
        await bob.ClickAsync("#tabs button[data-view=registry]");
        await bob.ClickAsync($"button[data-action=approve][data-version='{candidate}']");
        await bob.FillAsync("#confirm-reason", "reviewed the round's evaluation");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("#message")).ToContainTextAsync("done");

        // alice rolls it out in two stages by hand, then rolls it back — the README's commands with its placeholders filled in.
        await CliAsync(governed.Find("rollouts", "create", "VERSION"), ("VERSION", candidate.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var status = await CliAsync(governed.Find("rollouts", "status"));
        var rollout = await LatestRolloutAsync();
        Assert.Contains(rollout.Id, status, StringComparison.Ordinal);
        await CliAsync(governed.Find("rollouts", "advance"), ("ROLLOUT-ID", rollout.Id));
        await Eventually.Until(async () => await Version(Device1) == candidate && await Version(Device2) == candidate, $"both devices serving v{candidate} in stage 2", 90);
        await CliAsync(governed.Find("rollouts", "advance"), ("ROLLOUT-ID", rollout.Id));
        Assert.Equal("Completed", (await LatestRolloutAsync()).State);
        await CliAsync(governed.Find("rollouts", "rollback"), ("ROLLOUT-ID", rollout.Id));
        await Eventually.Until(async () => await Version(Device1) == 1 && await Version(Device2) == 1, "both devices back on v1", 90);

        // The console shows the fleet and the rollout's rollback.
        await bob.ClickAsync("#tabs button[data-view=rollouts]");
        await Expect(bob.Locator("main")).ToContainTextAsync($"rolled back to v1 after completion", new() { Timeout = 15_000 });
        await bob.ClickAsync("#tabs button[data-view=fleet]");
        await Expect(bob.Locator("main")).ToContainTextAsync("dev-1", new() { Timeout = 15_000 });
        await Expect(bob.Locator("main")).ToContainTextAsync("dev-2");
    }

    private HostProcess Start(ReadmeCommand command)
    {
        output.WriteLine($"$ {command}");
        var host = new HostProcess(ReadmeCommands.Binary(command.Project), _work, command.Args);
        _hosts.Add(host);
        return host;
    }

    /// <summary>Runs a README CLI line (placeholders filled in) from the working directory; it must succeed.</summary>
    private async Task<string> CliAsync(ReadmeCommand command, params (string Placeholder, string Value)[] fill)
    {
        var args = command.Args.Select(a => fill.Aggregate(a, (s, f) => s.Replace(f.Placeholder, f.Value, StringComparison.Ordinal))).ToArray();
        output.WriteLine($"$ {command with { Args = args }}");
        var (code, said, errors) = await HostProcess.RunToExitAsync(ReadmeCommands.Binary(command.Project), _work, args);
        output.WriteLine(said + errors);
        Assert.True(code == 0, $"{command with { Args = args }} exited {code}: {said}{errors}");
        return said;
    }

    /// <summary>The CLI's JSON (the README's <c>--json</c> on any command) for what the test needs to read back.</summary>
    private async Task<JsonElement> CliJsonAsync(params string[] args)
    {
        var (code, said, errors) = await HostProcess.RunToExitAsync(ReadmeCommands.Binary("aggregator/EdgeMlOps.Cli"), _work, [.. args, "--json", "--token", "change-me"]);
        Assert.True(code == 0, $"edgemlops {string.Join(' ', args)} --json exited {code}: {said}{errors}");
        return JsonDocument.Parse(said).RootElement.Clone();
    }

    private async Task<ulong> NewestCandidateAsync()
    {
        var versions = await CliJsonAsync("models", "list");
        return versions.EnumerateArray().Where(v => v.GetProperty("state").GetString() == "candidate").Select(v => v.GetProperty("version").GetUInt64()).DefaultIfEmpty(0UL).Max();
    }

    private async Task<(string Id, string State)> LatestRolloutAsync()
    {
        var views = await CliJsonAsync("rollouts", "status"); // --json: the API's list of rollouts, oldest first
        var rollout = views[views.GetArrayLength() - 1].GetProperty("rollout");
        return (rollout.GetProperty("id").GetString()!, rollout.GetProperty("state").GetString()!);
    }

    private async Task FeedAsync(Uri device, Dataset data, IEnumerable<int> rows)
    {
        foreach (var row in rows)
        {
            var body = JsonSerializer.Serialize(new { features = data.Row(row), label = data.Labels[row] });
            using var response = await _http.PostAsync(new Uri(device, "v1/feedback"), new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.True(response.IsSuccessStatusCode, $"feedback to {device}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The device's <c>/v1/health</c> (503 while it serves no model, with the same body), or null before it listens.</summary>
    private async Task<JsonElement?> Health(Uri device)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(device, "v1/health"));
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet
        }
    }

    private async Task<ulong> Version(Uri device) => await Health(device) is { } h ? h.GetProperty("modelVersion").GetUInt64() : 0;
}
