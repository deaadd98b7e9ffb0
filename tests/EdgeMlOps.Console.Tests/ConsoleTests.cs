using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace EdgeMlOps.Console.Tests;

/// <summary>The web console in a real headless Chromium against a real aggregator (governed, four eyes).</summary>
public sealed class ConsoleTests : IAsyncLifetime
{
    private const string HostileTag = "<img src=x onerror=alert(1)>";

    private AggregatorNode _node = null!;
    private ConsoleBrowser _browser = null!;
    private MqttTransport _device = null!;
    private Uri _console = null!;

    public async Task InitializeAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-console-" + Guid.NewGuid().ToString("N"));
        _node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "web", ModelName = "digits", Model = ModelSpecText.Parse("mlp-4-3-2"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = dir,
            Governance = new GovernanceOptions
            {
                Mode = DeploymentMode.Governed,
                Identities =
                [
                    new AdminIdentity("alice", AdminIdentity.HashToken("alice-token"), new HashSet<string> { AdminRoles.Approver }),
                    new AdminIdentity("bob", AdminIdentity.HashToken("bob-token"), new HashSet<string> { AdminRoles.Operator }),
                    new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer }),
                    new AdminIdentity("dana", AdminIdentity.HashToken("dana-token"), new HashSet<string> { AdminRoles.Scientist, AdminRoles.Approver }),
                ],
            },
        });
        await _node.StartAsync(CancellationToken.None);
        _console = new Uri(_node.ArtifactBaseUrl, "/console/");

        // A device whose status carries markup in a tag: the console must show it as text.
        var certificate = _node.Security.IssueDeviceCertificate("cam-7");
        _device = new MqttTransport(new MqttTransportOptions("cam-7", _node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(_node.Security.Authority.Certificate, _ => certificate) });
        await _device.ConnectAsync(CancellationToken.None);
        var status = new DeviceStatus { Header = ProtocolInfo.NewHeader("web", "cam-7", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), State = DeviceState.Online, SampleCount = 12 };
        status.Tags.Add("site", HostileTag);
        status.Tags.Add("hw", "pi4");
        await _device.PublishAsync(new Topics("web").Status("cam-7"), status.ToByteArray(), retain: true, CancellationToken.None);
        _browser = await ConsoleBrowser.LaunchAsync();
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _device.DisposeAsync();
        await _node.DisposeAsync();
    }

    [Fact]
    public async Task FourEyes_InTheBrowser_TheCreatorIsRefused_AnotherApproverApproves_AndTheAuditChainShowsIt()
    {
        var v2 = await _node.RegisterVersionAsync(_node.CurrentWeights.Clone(), "dana", "retrained offline", CancellationToken.None);

        var dana = await _browser.SignInAsync(_console, "dana-token");
        await dana.ClickAsync("#tabs button[data-view=registry]");
        await dana.ClickAsync($"button[data-action=approve][data-version='{v2.Version}']");
        await dana.FillAsync("#confirm-reason", "my own work");
        await dana.ClickAsync("#confirm-ok");
        await Expect(dana.Locator("#message")).ToContainTextAsync("four eyes");
        Assert.Equal(VersionStates.Candidate, _node.Registry.Version("digits", v2.Version)!.State);

        var alice = await _browser.SignInAsync(_console, "alice-token");
        await alice.ClickAsync("#tabs button[data-view=registry]");
        await alice.ClickAsync($"button[data-action=approve][data-version='{v2.Version}']");
        await alice.FillAsync("#confirm-reason", "reviewed the evaluation");
        await alice.ClickAsync("#confirm-ok");
        await Expect(alice.Locator("#message")).ToContainTextAsync("done");
        await Expect(alice.Locator("main td.state-approved")).ToHaveCountAsync(1);
        Assert.Equal(VersionStates.Approved, _node.Registry.Version("digits", v2.Version)!.State);

        await alice.ClickAsync("#tabs button[data-view=audit]");
        await Expect(alice.Locator("#audit-status")).ToContainTextAsync("Hash chain intact");
        await Expect(alice.Locator("main")).ToContainTextAsync("reviewed the evaluation");
    }

    [Fact]
    public async Task AReplicaStarvedOfUpdates_TurnsTheHealthPillRed_WithTheFix()
    {
        var carol = await _browser.SignInAsync(_console, "carol-token");
        await Expect(carol.Locator("#health")).ToContainTextAsync("broker up");
        await Expect(carol.Locator("#health")).Not.ToContainTextAsync("starved");

        // Two rounds that fell short while replica r2, connected, wrote no share (its broker rule missing).
        for (var round = 1; round <= 2; round++) _node.Replicas.Observe($"digits-r{round}", ["r2"], new HashSet<string>(), own: 3, fellShort: true);
        var refreshed = new LocatorAssertionsToContainTextOptions { Timeout = 15_000 }; // the console refreshes every 5 s
        await Expect(carol.Locator("#health")).ToContainTextAsync("1 replica starved of updates: write the broker's configuration again", refreshed);
        await Expect(carol.Locator("#health")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("\\bbad\\b"));

        _node.Replicas.Observe("digits-r3", ["r2"], new HashSet<string> { "r2" }, own: 3, fellShort: false); // its share again
        await Expect(carol.Locator("#health")).Not.ToContainTextAsync("starved", new LocatorAssertionsToContainTextOptions { Timeout = 15_000 });
        await Expect(carol.Locator("#health")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("\\bok\\b"));
    }

    [Fact]
    public async Task AShadowRollout_ShowsItsShadowTest_AndAnOperatorPromotesItToTheFirstStage()
    {
        _node.Governance.Approve("alice", "digits", 1, "first version");
        var rollout = await _node.Rollouts.CreateAsync("bob", new EdgeMlOps.Aggregator.Rollouts.RolloutRequest
        {
            Version = 1, Stages = [0.5, 1.0], Reason = "shadow first", Shadow = new EdgeMlOps.Aggregator.Rollouts.ShadowRequest { Share = 1.0 },
        }, CancellationToken.None);

        var bob = await _browser.SignInAsync(_console, "bob-token");
        await bob.ClickAsync("#tabs button[data-view=rollouts]");
        await Expect(bob.Locator("main td.state-Shadow")).ToHaveCountAsync(1);
        await Expect(bob.Locator("main")).ToContainTextAsync("0 scored on 0 devices");
        await Expect(bob.Locator("main")).ToContainTextAsync("wait: 0 requests scored");
        await bob.ClickAsync("main button:has-text('Promote')");
        await bob.FillAsync("#confirm-reason", "shadow reviewed by hand");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("main td.state-Active")).ToHaveCountAsync(1);
        Assert.Equal(EdgeMlOps.Aggregator.Rollouts.RolloutStatusKind.Active, _node.Rollouts.Find(rollout.Id)!.State);
        Assert.Equal("bob", _node.Audit.Entries("rollout/").Last().Actor);
    }

    [Fact]
    public async Task ThePipeline_InTheBrowser_AnOperatorStartsAndStopsARun_AndPausesIt_AViewerOnlyLooks()
    {
        var v1 = _node.Governance.Approve("alice", "digits", 1, "first version");
        _node.Governance.Move(v1, VersionStates.Deployed, "system:rollout", "rolled out");

        var bob = await _browser.SignInAsync(_console, "bob-token");
        await bob.ClickAsync("#tabs button[data-view=pipeline]");
        await Expect(bob.Locator("main")).ToContainTextAsync("No runs yet.");
        await bob.ClickAsync("button[data-action=start-run]");
        await bob.FillAsync("#confirm-reason", "labels from the new site");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("#pipeline-note")).ToContainTextAsync("manual: labels from the new site");
        await bob.ClickAsync("button[data-action=stop-run]");
        await bob.FillAsync("#confirm-reason", "not before the audit");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("main h3").First).ToContainTextAsync("Stopped");
        await Expect(bob.Locator("main")).ToContainTextAsync("stopped by bob: not before the audit");
        await bob.ClickAsync("button[data-action=pause-pipeline]");
        await bob.FillAsync("#confirm-reason", "change freeze");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("#pipeline-status")).ToContainTextAsync("paused by bob");
        Assert.True(_node.Pipeline.Paused);

        var carol = await _browser.SignInAsync(_console, "carol-token");
        await carol.ClickAsync("#tabs button[data-view=pipeline]");
        await Expect(carol.Locator("#pipeline-status")).ToContainTextAsync("paused by bob");
        await Expect(carol.Locator("main button.action")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task AnOperatorAddsAModelInTheBrowser_AsANewLine_AndRemovesIt_AViewerOnlyLooks()
    {
        await using var lines = await EdgeMlOps.Aggregator.Lines.ModelLineHost.StartAsync(_node, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, CancellationToken.None);
        var port = FreePort();
        var bob = await _browser.SignInAsync(_console, "bob-token");
        await bob.ClickAsync("#tabs button[data-view=models]");
        await Expect(bob.Locator("main")).ToContainTextAsync("No model lines");
        await bob.FillAsync("#line-name", "cnn");
        await bob.SetInputFilesAsync("#line-file", Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx"));
        await bob.FillAsync("#line-url", $"http://127.0.0.1:{port}");
        await bob.FillAsync("#line-cohort", "camera=yes");
        await bob.FillAsync("#line-settings", "ModelInterface:Trainable=last:1\nRounds:Fracton=0.5");
        await bob.FillAsync("#line-reason", "camera pilot");
        await bob.ClickAsync("#line-add");
        await Expect(bob.Locator("#message")).ToContainTextAsync("Aggregator:Lines:cnn:Rounds:Fracton: not a setting"); // every problem, by the configuration's rules
        await Task.Delay(6000); // past a refresh: what was typed stays
        await Expect(bob.Locator("#line-name")).ToHaveValueAsync("cnn");
        await bob.FillAsync("#line-settings", "ModelInterface:Trainable=last:1");
        await bob.ClickAsync("#line-add");
        await Expect(bob.Locator("#message")).ToContainTextAsync("Model line cnn added");
        await Expect(bob.Locator("main table")).ToContainTextAsync("camera=yes");
        Assert.Equal("cnn", Assert.Single(lines.Nodes).Options.Line);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_cnn_digits04.onnx")))), lines["cnn"].CurrentVersion.InferenceSha256);

        var carol = await _browser.SignInAsync(_console, "carol-token");
        await carol.ClickAsync("#tabs button[data-view=models]");
        await Expect(carol.Locator("main table")).ToContainTextAsync("cnn");
        await Expect(carol.Locator("#line-form")).ToHaveCountAsync(0);
        await Expect(carol.Locator("button[data-action=remove-line]")).ToHaveCountAsync(0);

        await bob.ClickAsync("button[data-action=remove-line][data-line=cnn]");
        await bob.FillAsync("#confirm-reason", "pilot over");
        await bob.ClickAsync("#confirm-ok");
        await Expect(bob.Locator("main")).ToContainTextAsync("No model lines");
        Assert.Empty(lines.Nodes);
        Assert.Equal(["line.add", "line.remove"], _node.Audit.Entries("lines/").Select(e => e.Action));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task AViewer_SeesTheRegistry_ButNoApproveOrAbortButtons()
    {
        await _node.RegisterVersionAsync(_node.CurrentWeights.Clone(), "dana", "retrained offline", CancellationToken.None);
        var carol = await _browser.SignInAsync(_console, "carol-token");
        await Expect(carol.Locator("#who")).ToContainTextAsync("carol (viewer)");
        await carol.ClickAsync("#tabs button[data-view=registry]");
        await Expect(carol.Locator("main tbody tr")).ToHaveCountAsync(2);
        await Expect(carol.Locator("button[data-action=approve]")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task Fleet_ShowsDevices_FiltersThem_AndRendersHostileTagsAsText()
    {
        var scripts = 0;
        var page = await _browser.SignInAsync(_console, "carol-token");
        page.Dialog += (_, dialog) => { Interlocked.Increment(ref scripts); _ = dialog.DismissAsync(); };
        await Expect(page.Locator("main")).ToContainTextAsync("cam-7", new() { Timeout = 15_000 });
        await Expect(page.Locator("main")).ToContainTextAsync("site=" + HostileTag);
        await Expect(page.Locator("main img")).ToHaveCountAsync(0);

        await page.FillAsync("#filter", "jetson");
        await Expect(page.Locator("main")).ToContainTextAsync("No device matches.");
        await page.FillAsync("#filter", "hw=pi4");
        await Expect(page.Locator("main tbody tr")).ToHaveCountAsync(1);
        Assert.Equal(0, scripts);
    }

    /// <summary>A device whose model's front end refused samples (as its status reports) adds a column saying how many, for every device; a fleet without any shows none.</summary>
    [Fact]
    public async Task SamplesADevicesFrontEndRefused_AreAColumnOfTheFleet_OnlyWhenAnyDeviceReportsThem()
    {
        var page = await _browser.SignInAsync(_console, "carol-token");
        await Expect(page.Locator("main")).ToContainTextAsync("cam-7", new() { Timeout = 15_000 });
        await Expect(page.Locator("main thead th", new() { HasTextString = "Refused samples" })).ToHaveCountAsync(0);

        var certificate = _node.Security.IssueDeviceCertificate("scan-2");
        await using var scanner = new MqttTransport(new MqttTransportOptions("scan-2", _node.BrokerEndpoint) { CleanStart = true, Tls = new MqttTlsSettings(_node.Security.Authority.Certificate, _ => certificate) });
        await scanner.ConnectAsync(CancellationToken.None);
        var status = new DeviceStatus { Header = ProtocolInfo.NewHeader("web", "scan-2", 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), State = DeviceState.Online, SampleCount = 40, SamplesRefused = 1234 };
        await scanner.PublishAsync(new Topics("web").Status("scan-2"), status.ToByteArray(), retain: true, CancellationToken.None);

        await Expect(page.Locator("main thead th", new() { HasTextString = "Refused samples" })).ToHaveCountAsync(1, new() { Timeout = 15_000 }); // the console refreshes every 5 s
        Assert.Equal(["Device", "State", "Model", "Samples", "Tags", "Refused samples", "Last seen (UTC)"], await page.Locator("main thead th").AllTextContentsAsync());
        Assert.Equal("1234", await page.Locator("main tbody tr", new() { HasTextString = "scan-2" }).Locator("td").Nth(5).TextContentAsync());
        Assert.Equal("0", await page.Locator("main tbody tr", new() { HasTextString = "cam-7" }).Locator("td").Nth(5).TextContentAsync());
    }

    [Fact]
    public async Task AFleetWithAnEdgeTier_ShowsItsGateways_AndAFleetWithoutOneShowsNoGatewayTable()
    {
        var page = await _browser.SignInAsync(_console, "carol-token");
        await Expect(page.Locator("main")).ToContainTextAsync("cam-7", new() { Timeout = 15_000 });
        await Expect(page.Locator("#gateways")).ToHaveCountAsync(0); // this fleet has no Edge:Gateways

        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-console-edge-" + Guid.NewGuid().ToString("N"));
        await using var edged = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "web", ModelName = "digits", Model = ModelSpecText.Parse("mlp-4-3-2"), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0", DataDirectory = dir,
            Governance = new GovernanceOptions { Identities = [new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer })] },
            Edge = new EdgeMlOps.Aggregator.Edge.EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["region-1"] = ["cam-*", "pump-7"], ["site-b"] = ["dev-b1"] } },
        });
        await edged.StartAsync(CancellationToken.None);
        var edgePage = await _browser.SignInAsync(new Uri(edged.ArtifactBaseUrl, "/console/"), "carol-token");
        await Expect(edgePage.Locator("#gateways tbody tr")).ToHaveCountAsync(2, new() { Timeout = 15_000 });
        Assert.Equal(["Gateway", "Device patterns", "Partials merged", "Updates in them", "Last partial (UTC)", "Refused"], await edgePage.Locator("#gateways thead th").AllTextContentsAsync());
        Assert.Equal(["region-1", "2", "0", "0", "-", "-"], await edgePage.Locator("#gateways tbody tr").First.Locator("td").AllTextContentsAsync()); // listed, never heard from
    }

    [Fact]
    public async Task EveryView_Renders_WithTheExpectedStructure_AndAScreenshot()
    {
        var page = await _browser.SignInAsync(_console, "alice-token");
        var expected = new Dictionary<string, string[]>
        {
            ["fleet"] = ["Device", "State", "Model", "Samples", "Tags", "Last seen (UTC)"],
            ["registry"] = ["Version", "State", "Parent", "Created by", "Created (UTC)", "Round", "Devices", "Samples", "Held-out accuracy", "Why", ""],
            ["audit"] = ["#", "At (UTC)", "Actor", "Action", "Subject", "Reason"],
        };
        foreach (var (view, headers) in expected)
        {
            await page.ClickAsync($"#tabs button[data-view={view}]");
            await Expect(page.Locator("main h2")).ToHaveTextAsync(char.ToUpperInvariant(view[0]) + view[1..]);
            await Expect(page.Locator("main thead th")).ToHaveCountAsync(headers.Length);
            Assert.Equal(headers, await page.Locator("main thead th").AllTextContentsAsync());
        }

        foreach (var view in new[] { "rollouts", "pipeline", "training", "monitoring", "security" })
        {
            await page.ClickAsync($"#tabs button[data-view={view}]");
            await Expect(page.Locator("main h2")).ToHaveTextAsync(char.ToUpperInvariant(view[0]) + view[1..]);
            await Expect(page.Locator("#message")).ToBeEmptyAsync();
        }

        // EDGEMLOPS_SCREENSHOTS=dir keeps the picture (docs/console.png was made this way).
        await page.ClickAsync("#tabs button[data-view=fleet]");
        await Expect(page.Locator("main")).ToContainTextAsync("cam-7", new() { Timeout = 15_000 });
        var png = await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true });
        if (Environment.GetEnvironmentVariable("EDGEMLOPS_SCREENSHOTS") is { Length: > 0 } keep) await File.WriteAllBytesAsync(Path.Combine(keep, "console.png"), png);
        Assert.True(png.Length > 5_000, $"screenshot of {png.Length} bytes");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4e, 0x47 }, png[..4]);
    }

    /// <summary>
    /// A multi-task model's registry view: beside the primary task's held-out accuracy, each task's own score — the
    /// digit's accuracy and the completion's R² of PyTorch's two-headed model on eight scans.
    /// </summary>
    [Fact]
    public async Task TheRegistryView_ShowsEachTasksHeldOutScore_ForAMultiTaskModel()
    {
        var fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");
        var bytes = await File.ReadAllBytesAsync(Path.Combine(fixtures, "pytorch_digit_completion.onnx"));
        var source = EdgeMlOps.Shared.Onnx.UploadedClassifier.Open(bytes, new EdgeMlOps.Shared.Onnx.UploadedClassifierOptions("all") { Tasks = ModelTask.Parse("digit:classes,bottom:regression:0.5") });
        using var expected = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(fixtures, "digit_multitask_expected.json")));
        float[] Floats(string name) => [.. expected.RootElement.GetProperty(name).EnumerateArray().Select(v => v.GetSingle())];
        var (digits, bottoms) = (Floats("digits"), Floats("bottoms"));
        var evaluator = new EdgeMlOps.Aggregator.Evaluation.HeldOutTargetsEvaluator(Floats("top"), [.. digits.SelectMany((d, i) => bottoms.Skip(i * 32).Take(32).Prepend(d))], 33);
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "web", ModelName = "scans", Model = source.Spec, ModelSource = source, EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0",
            DataDirectory = Path.Combine(Path.GetTempPath(), "edgemlops-console-tasks-" + Guid.NewGuid().ToString("N")),
            Governance = new GovernanceOptions { Identities = [new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer })] },
        }, evaluator: evaluator);
        await node.StartAsync(CancellationToken.None);
        var scores = node.CurrentVersion.TaskScores!;

        var page = await _browser.SignInAsync(new Uri(node.ArtifactBaseUrl, "/console/"), "carol-token");
        await page.ClickAsync("#tabs button[data-view=registry]");
        await Expect(page.Locator("main tbody tr")).ToHaveCountAsync(1);
        var headers = await page.Locator("main thead th").AllTextContentsAsync();
        var cells = await page.Locator("main tbody tr").First.Locator("td").AllTextContentsAsync();
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        Assert.Equal(scores[0].Score!.Value.ToString("F4", inv), cells[headers.ToList().IndexOf("Held-out accuracy")]);
        Assert.Equal($"digit {scores[0].Score!.Value.ToString("F4", inv)}, bottom {scores[1].Score!.Value.ToString("F4", inv)}", cells[headers.ToList().IndexOf("Held-out per task")]);
    }

    /// <summary>
    /// The device's first window (240 predictions, both classes alike), once evaluated, is v1's prediction reference; ten minutes
    /// later it predicts class 1 four times in five. The Monitoring view says the predictions drifted and how.
    /// </summary>
    [Fact]
    public async Task TheMonitoringView_ShowsPredictionDrift_WhenTheDevicesPredictedClassesMove()
    {
        async Task Send(ulong sequence, DateTimeOffset end, double classOneShare)
        {
            var window = new EdgeMlOps.Shared.Monitoring.WindowProfile(4, 2);
            for (var i = 0; i < 240; i++) window.AddPrediction([0f, 0f, 0f, 0f], i < 240 * classOneShare ? 1 : 0, 0.9f, TimeSpan.FromMilliseconds(1), sketchFeatures: false);
            var report = window.ToProto();
            report.Header = ProtocolInfo.NewHeader("web", "cam-7", sequence, end.ToUnixTimeMilliseconds());
            (report.ModelName, report.ModelVersion, report.WindowStartUnixMs, report.WindowEndUnixMs) = ("digits", 1, end.AddMinutes(-5).ToUnixTimeMilliseconds(), end.ToUnixTimeMilliseconds());
            await _device.PublishAsync(new Topics("web").Profile("cam-7"), report.ToByteArray(), retain: false, CancellationToken.None);
        }

        var now = DateTimeOffset.UtcNow;
        await Send(2, now, 0.5);
        await Send(3, now.AddMinutes(10), 0.8);
        await Eventually.Until(() => _node.ProfilesAccepted >= 2, "both profiles", 30);
        await _node.EvaluateDriftAsync(_node.Monitor.WindowOf(now), CancellationToken.None);
        var later = _node.Monitor.WindowOf(now.AddMinutes(10));
        var report = Assert.Single(await _node.EvaluateDriftAsync(later, CancellationToken.None));
        Assert.True(report.PredictionDrift);

        var page = await _browser.SignInAsync(_console, "carol-token");
        await page.ClickAsync("#tabs button[data-view=monitoring]");
        await Expect(page.Locator("main thead th").Last).ToHaveTextAsync("Prediction drift");
        var cell = page.Locator("main tbody tr").First.Locator("td").Last; // the newest window first
        await Expect(cell).ToContainTextAsync("yes: predicted classes (chisquare ");
        await Expect(cell).ToHaveClassAsync("error");
        await Expect(page.Locator("main tbody tr").Last.Locator("td").Last).ToHaveTextAsync("no"); // the first window: the reference itself
    }

    [Fact]
    public async Task TheConsole_IsServedWithAStrictContentSecurityPolicy_AndAWrongTokenIsRefused()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(_console);
        Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());

        var context = await _browser.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(_console.ToString());
        await page.FillAsync("#token", "guess");
        await page.ClickAsync("#login-form button[type=submit]");
        await Expect(page.Locator("#login-error")).ToContainTextAsync("not known");
        await Expect(page.Locator("#tabs")).ToBeHiddenAsync();
    }
}
