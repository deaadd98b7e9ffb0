using EdgeMlOps.Agent;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using EdgeMlOps.Simulator.Data;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>Devices install only what verifies, over the real broker and artifact server, and judge new versions by themselves.</summary>
[Collection(FleetCollection.Name)]
public class TrustedInstallTests
{
    internal static AggregatorOptions Options(string dir, DeploymentMode mode = DeploymentMode.Auto) => new()
    {
        Fleet = "trust", ModelName = "m", Model = ModelSpecText.Parse("mlp-8-6-3"), EmbeddedBrokerPort = 0,
        HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        Governance = new GovernanceOptions { Mode = mode, RolloutCheckInterval = TimeSpan.FromMilliseconds(200) },
    };

    internal static DeviceAgent Agent(string dir, AggregatorNode node, byte[] root, HttpMessageHandler? http = null, string id = "dev-t") => new(
        new AgentOptions { DeviceId = id, Fleet = "trust", Broker = node.BrokerEndpoint, FleetCa = node.Security.Authority.Certificate, Enrollment = Join.Enrollment(node), TrustedRoots = [root], DataDirectory = Path.Combine(dir, id) },
        new AgentDependencies
        {
            Store = new SampleStore(Path.Combine(dir, id, "agent.db"), 100, 100),
            Outbox = new Outbox(Path.Combine(dir, id, "outbox.db"), 10),
            Models = new ModelStore(Path.Combine(dir, id, "models")),
            Http = http is null ? new HttpClient() : new HttpClient(http),
        });

    private static readonly RolloutGates NoFeedbackGates = new() { MinFeedback = 0 };

    /// <summary>v1 approved and rolled out to everyone, deployed in the registry.</summary>
    internal static async Task DeployV1Async(AggregatorNode node)
    {
        node.Governance.Approve("alice", "m", 1, "first");
        await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Health = new HealthWindow { WindowSeconds = 1 }, Gates = NoFeedbackGates }, CancellationToken.None);
        await Eventually.Until(() => node.DeployedVersion?.Version == 1, "v1 deployed", 60);
    }

    /// <summary>A next version with different weights (so new artifacts), registered by dana and approved by alice.</summary>
    internal static async Task<ModelVersionRecord> ApprovedNextVersionAsync(AggregatorNode node)
    {
        var weights = node.CurrentWeights.Clone();
        for (var i = 0; i < weights.Values.Length; i++) weights.Values[i] += 0.01f;
        var next = await node.RegisterVersionAsync(weights, "dana", "next", CancellationToken.None);
        node.Governance.Approve("alice", "m", next.Version, "ok");
        return next;
    }

    internal static string TempDirectory() => Path.Combine(Path.GetTempPath(), "edgemlops-trust-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task ArtifactTamperedOnTheServer_IsRefused_AndTheReasonReachesTheOperator()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        var path = node.Artifacts.TryGetPath(node.CurrentVersion.InferenceSha256)!;
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^1] ^= 0x5a;
        await File.WriteAllBytesAsync(path, bytes);

        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        await Eventually.Until(() => agent.Trust.Rejections > 0, "the tampered artifact to be refused");
        Assert.Equal(0UL, agent.ModelVersion);
        Assert.Contains("sha256", agent.Trust.LastRejection, StringComparison.Ordinal);
        await Eventually.Until(() => node.Devices.TryGet("dev-t", out var d) && d.RejectedManifests > 0 && d.LastRejection.Contains("sha256", StringComparison.Ordinal), "the rejection in the device's status");
    }

    [Fact]
    public async Task AgentPinnedToAnotherRoot_InstallsNothing()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        using var otherRoot = SigningKeyPair.Generate();
        await using var agent = Agent(dir, node, otherRoot.PublicKey);
        await agent.StartAsync(CancellationToken.None);
        await Eventually.Until(() => agent.Trust.Rejections > 0, "the announcement to be refused");
        Assert.Equal(0UL, agent.ModelVersion);
        Assert.Contains("pinned root", agent.Trust.LastRejection, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SigningKeyRotation_DevicesFollowThroughTheRoot_AndKeepInstalling()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);

        await node.RotateSigningKeyAsync("erin", revokeOld: true, "scheduled", CancellationToken.None);
        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "after rotation", CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(v2.Version, cts.Token);
        Assert.Equal(2UL, agent.Trust.BundleVersion);
        Assert.Equal(0, agent.Trust.Rejections);
    }

    [Fact]
    public async Task FlippingTrainingOnly_OnTheRetainedAnnouncement_DoesNotMakeAGovernedFleetServeACandidate()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir, DeploymentMode.Governed));
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        await Eventually.Until(() => agent.TrainingVersion == 1, "the candidate loaded for training");
        Assert.Equal(0UL, agent.ModelVersion);

        // Someone with write access to the retained topic (a compromised broker) flips the unsigned flag.
        var retained = new TaskCompletionSource<byte[]>();
        await using var forger = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-forger", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls })
        {
            MessageReceived = (_, payload) => { retained.TrySetResult(System.Buffers.BuffersExtensions.ToArray(payload)); return Task.CompletedTask; },
        };
        await forger.SubscribeAsync(["edgemlops/v1/trust/model"], CancellationToken.None);
        await forger.ConnectAsync(CancellationToken.None);
        var announcement = ModelAnnouncement.Parser.ParseFrom(await retained.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(announcement.TrainingOnly);
        announcement.TrainingOnly = false;
        await forger.PublishAsync("edgemlops/v1/trust/model", Google.Protobuf.MessageExtensions.ToByteArray(announcement), retain: true, CancellationToken.None);

        await Eventually.Until(() => agent.Trust.Rejections > 0, "the forged announcement to be refused");
        Assert.Contains("does not match its signed manifest", agent.Trust.LastRejection, StringComparison.Ordinal);
        Assert.Equal(0UL, agent.ModelVersion);
    }

    [Fact]
    public async Task ReplayedOlderAnnouncement_IsCounted_AndReachesTheOperator()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        var announcements = new System.Collections.Concurrent.ConcurrentQueue<byte[]>();
        await using var recorder = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-recorder", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls })
        {
            MessageReceived = (_, payload) => { announcements.Enqueue(System.Buffers.BuffersExtensions.ToArray(payload)); return Task.CompletedTask; },
        };
        await recorder.SubscribeAsync(["edgemlops/v1/trust/model"], CancellationToken.None);
        await recorder.ConnectAsync(CancellationToken.None);
        await Eventually.Until(() => !announcements.IsEmpty, "the v1 announcement");
        announcements.TryPeek(out var v1);

        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "next", CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(v2.Version, cts.Token);
        Assert.Equal(0, agent.Trust.Rejections);

        // The old, validly signed announcement replayed: not installed, and not silent either.
        await recorder.PublishAsync("edgemlops/v1/trust/model", v1!, retain: false, CancellationToken.None);
        await Eventually.Until(() => agent.Trust.Rejections == 1, "the replay to be counted");
        Assert.Contains("replay", agent.Trust.LastRejection, StringComparison.Ordinal);
        Assert.Equal(v2.Version, agent.ModelVersion);
        await Eventually.Until(() => node.Devices.TryGet("dev-t", out var d) && d.RejectedManifests == 1 && d.LastRejection.Contains("replay", StringComparison.Ordinal), "the replay in the device's status");
    }

    [Fact]
    public async Task DeviceCutOffFromFreshManifests_SaysItIsBehind()
    {
        var dir = TempDirectory();
        var node = new AggregatorNode(Options(dir) with { Trust = new EdgeMlOps.Aggregator.Trust.TrustOptions { ManifestLifetime = TimeSpan.FromSeconds(4), TimestampLifetime = TimeSpan.FromSeconds(4) } });
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);
        var first = agent.FreshUntil!.Value;

        // The aggregator re-signs every second: the same version, fresher statements, never behind.
        await Eventually.Until(() => agent.FreshUntil > first, "a freshly signed re-announcement to extend the device's freshness", 10);
        Assert.Null(agent.BehindSince);

        // Then nothing fresh arrives any more (the aggregator is gone; a freeze looks the same from the device).
        await node.DisposeAsync();
        var last = agent.FreshUntil!.Value;
        await Eventually.Until(() => agent.BehindSince is not null, "the device to say it is behind", 15);
        Assert.Equal(last, agent.BehindSince);
        Assert.Equal(1UL, agent.ModelVersion);
    }

    [Fact]
    public async Task TrustTopic_CarriesTheBundle_AndAForgedBundleThereIsRefusedAndReplaced()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);

        // A "newer" bundle signed by a root nobody pinned, put on the trust topic.
        using var rogueRoot = SigningKeyPair.Generate();
        var forged = Signatures.Sign(new TrustBundle { Fleet = "trust", Version = 99, IssuedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, rogueRoot);
        await using var forger = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-forger", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls });
        await forger.ConnectAsync(CancellationToken.None);
        await Task.Delay(EdgeMlOps.Aggregator.Security.RetainedTopicGuard.EchoWindow);
        await forger.PublishAsync("edgemlops/v1/trust/trust", Google.Protobuf.MessageExtensions.ToByteArray(forged), retain: true, CancellationToken.None);

        await Eventually.Until(() => agent.Trust.Rejections == 1, "the forged bundle to be refused");
        Assert.Equal(1UL, agent.Trust.BundleVersion);
        await Eventually.Until(() => node.Security.Events.Count(EdgeMlOps.Aggregator.Security.SecurityEventKind.RetainedRestored) == 1, "the aggregator to put its bundle back");
    }

    [Fact]
    public async Task RotationWithRevoke_ReachesADeviceAlreadyOnTheNewestVersion()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir));
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20))) await agent.WaitForModelAsync(1, cts.Token);
        Assert.Equal(1UL, agent.Trust.BundleVersion);

        // No new version follows the rotation: the device must still learn that the old key is revoked.
        await node.RotateSigningKeyAsync("erin", revokeOld: true, "key leaked", CancellationToken.None);
        await Eventually.Until(() => agent.Trust.BundleVersion == 2, "the new trust bundle on a device already on the newest version", 15);
        Assert.Equal(0, agent.Trust.Rejections);
    }

    [Fact]
    public async Task HealthWindow_LatencyOverBudget_DeviceRevertsByItself_AndTheGateAborts()
    {
        var dir = TempDirectory();
        var data = SyntheticDataset.Generate(600, 8, 3, seed: 4);
        var parts = Enumerable.Range(0, 6).Select(d => Enumerable.Range(d * 100, 100).ToArray()).ToArray();
        await using var fleet = await SimulatedFleet.StartAsync(
            Options(dir, DeploymentMode.Governed), new HeldOutEvaluator(data.Features, data.Labels), data, parts, AgentFaults.None, 2,
            _ => new Dictionary<string, string>(), null, dir, NullLoggerFactory.Instance, CancellationToken.None);
        var node = fleet.Aggregator;
        node.Governance.Approve("alice", "m", 1, "first");
        var window = new HealthWindow { WindowSeconds = 1, MinPredictions = 5 };
        using var traffic = new CancellationTokenSource();
        var predictions = Task.Run(async () =>
        {
            while (!traffic.IsCancellationRequested)
            {
                foreach (var agent in fleet.Agents.Where(a => a.ModelVersion > 0)) agent.Predict(data.Row(0));
                await Task.Delay(20);
            }
        });

        await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Health = window, Gates = new RolloutGates { MinFeedback = 0 } }, CancellationToken.None);
        await Eventually.Until(() => node.Rollouts.Current!.State == RolloutStatusKind.Completed, "v1 everywhere", 60);

        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "same weights, new runtime settings", CancellationToken.None);
        node.Governance.Approve("alice", "m", v2.Version, "ok");
        var strict = new HealthWindow { WindowSeconds = 1, MinPredictions = 5, LatencyBudgetP95Ms = 1e-6 };
        await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Health = strict, Gates = new RolloutGates { MinFeedback = 0 } }, CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.Rollout is { Phase: RolloutPhase.RolledBack } p && p.TargetVersion == v2.Version), "every device to revert", 60);
        await traffic.CancelAsync();
        await predictions;

        Assert.All(fleet.Agents, a =>
        {
            Assert.Equal(1UL, a.ModelVersion);
            Assert.Contains("p95 latency", a.Rollout!.Reason, StringComparison.Ordinal);
        });
        await Eventually.Until(() => node.Rollouts.Current!.State == RolloutStatusKind.Aborted, "the gate to abort", 30);
        Assert.Contains("failed or rolled back", node.Rollouts.Current!.Note, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplayedOldAbort_DoesNotRollBackARolloutThatSucceededLater()
    {
        var dir = TempDirectory();
        var data = SyntheticDataset.Generate(300, 8, 3, seed: 5);
        var parts = Enumerable.Range(0, 3).Select(d => Enumerable.Range(d * 100, 100).ToArray()).ToArray();
        await using var fleet = await SimulatedFleet.StartAsync(
            Options(dir, DeploymentMode.Governed), new HeldOutEvaluator(data.Features, data.Labels), data, parts, AgentFaults.None, 2,
            _ => new Dictionary<string, string>(), null, dir, NullLoggerFactory.Instance, CancellationToken.None);
        var node = fleet.Aggregator;
        var plans = new System.Collections.Concurrent.ConcurrentQueue<byte[]>();
        await using var sniffer = new EdgeMlOps.Runtime.Mqtt.MqttTransport(new EdgeMlOps.Runtime.Mqtt.MqttTransportOptions("aggregator-sniffer", node.BrokerEndpoint) { CleanStart = true, Tls = node.Security.ClientTls })
        {
            MessageReceived = (_, payload) =>
            {
                plans.Enqueue(System.Buffers.BuffersExtensions.ToArray(payload));
                return Task.CompletedTask;
            },
        };
        await sniffer.SubscribeAsync(["edgemlops/v1/trust/rollout"], CancellationToken.None);
        await sniffer.ConnectAsync(CancellationToken.None);

        var health = new HealthWindow { WindowSeconds = 1 };
        var gates = new RolloutGates { MinFeedback = 0 };
        node.Governance.Approve("alice", "m", 1, "first");
        await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = 1, Stages = [1.0], Health = health, Gates = gates }, CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.ModelVersion == 1) && node.Rollouts.Current!.State == RolloutStatusKind.Completed, "v1 everywhere", 60);

        var v2 = await node.RegisterVersionAsync(node.CurrentWeights.Clone(), "dana", "next", CancellationToken.None);
        node.Governance.Approve("alice", "m", v2.Version, "ok");
        var first = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Health = new HealthWindow { WindowSeconds = 60 }, Gates = gates }, CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.ModelVersion == v2.Version), "v2 on trial everywhere", 60);
        await node.Rollouts.AbortAsync("bob", first.Id, "wrong day", CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.ModelVersion == 1), "back on v1", 60);
        var abortPlan = plans.Last();

        await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Health = health, Gates = gates }, CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.ModelVersion == v2.Version && a.Rollout?.Phase == RolloutPhase.Healthy), "v2 healthy everywhere", 60);

        // An attacker (or a confused broker) replays the old, validly signed abort.
        await sniffer.PublishAsync("edgemlops/v1/trust/rollout", abortPlan, retain: false, CancellationToken.None);
        await Eventually.Until(() => fleet.Agents.All(a => a.Trust.LastRejection.Contains("older than the plan", StringComparison.Ordinal)), "the replay to be refused", 30);
        Assert.All(fleet.Agents, a => Assert.Equal(v2.Version, a.ModelVersion));
    }

    [Fact]
    public async Task RollbackDirective_StopsAStalledDownload_AndIsObeyedAtOnce()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir, DeploymentMode.Governed));
        await node.StartAsync(CancellationToken.None);
        var stall = new StallingHandler();
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey, stall);
        await agent.StartAsync(CancellationToken.None);
        await DeployV1Async(node);
        await Eventually.Until(() => agent.ModelVersion == 1, "v1 on the device", 60);

        // From now on the artifact server answers nothing: v2's download (for training, as governed fleets load a new
        // version) would hold the install gate until its deadline, 30 s and more, with the rollback directive behind it.
        stall.Block();
        var v2 = await ApprovedNextVersionAsync(node);
        await Eventually.Until(() => stall.Waiting > 0, "v2's download to hang", 30);
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Health = new HealthWindow { WindowSeconds = 60 }, Gates = NoFeedbackGates }, CancellationToken.None);
        await node.Rollouts.AbortAsync("bob", rollout.Id, "bad build", CancellationToken.None);

        await Eventually.Until(() => agent.Rollout?.RolloutId == rollout.Id, "the rollback directive obeyed while the download hung", 10);
        Assert.Equal(1UL, agent.ModelVersion);
        Assert.True(Interlocked.Read(ref agent.Counters.InstallsPreempted) >= 1);
        Assert.NotEqual(RolloutPhase.Trial, agent.Rollout!.Phase);

        // The stopped download is not lost: once the server answers again, v2 is loaded for training.
        stall.Release();
        await Eventually.Until(() => agent.TrainingVersion == v2.Version, "v2 loaded for training after the directive", 60);
        Assert.Equal(1UL, agent.ModelVersion);
    }

    /// <summary>An artifact server that stops answering (each request hangs until cancelled) while blocked.</summary>
    private sealed class StallingHandler : DelegatingHandler
    {
        private volatile bool _blocked;
        private int _waiting;

        public StallingHandler() : base(new HttpClientHandler()) { }

        public int Waiting => Volatile.Read(ref _waiting);

        public void Block() => _blocked = true;

        public void Release() => _blocked = false;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (_blocked && request.RequestUri!.AbsolutePath.Contains("/artifacts/", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _waiting);
                while (_blocked) await Task.Delay(50, cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    [Fact]
    public async Task ADeviceJoiningAfterAnAbortedRollout_ServesTheDeployedVersion()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir, DeploymentMode.Governed));
        await node.StartAsync(CancellationToken.None);
        await using (var first = Agent(dir, node, node.Keys.RootPublicKey))
        {
            await first.StartAsync(CancellationToken.None);
            await DeployV1Async(node);
        }

        var v2 = await ApprovedNextVersionAsync(node);
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Gates = NoFeedbackGates }, CancellationToken.None);
        await node.Rollouts.AbortAsync("bob", rollout.Id, "bad build", CancellationToken.None);

        // A device that joins now sees only the aborted plan and a training-only announcement of v2.
        await using var late = Agent(dir, node, node.Keys.RootPublicKey, id: "dev-late");
        await late.StartAsync(CancellationToken.None);
        await Eventually.Until(() => late.ModelVersion == 1, "the deployed v1 served by the late device", 30);
    }

    [Fact]
    public async Task ACompletedRollout_IsRolledBack_DevicesReturnToTheReplacedVersion_AndTheRegistryFollows()
    {
        var dir = TempDirectory();
        await using var node = new AggregatorNode(Options(dir, DeploymentMode.Governed));
        await node.StartAsync(CancellationToken.None);
        await using var agent = Agent(dir, node, node.Keys.RootPublicKey);
        await agent.StartAsync(CancellationToken.None);
        await DeployV1Async(node);
        var v2 = await ApprovedNextVersionAsync(node);
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = v2.Version, Stages = [1.0], Health = new HealthWindow { WindowSeconds = 1 }, Gates = NoFeedbackGates }, CancellationToken.None);
        await Eventually.Until(() => node.DeployedVersion?.Version == v2.Version && agent.ModelVersion == v2.Version, "v2 deployed", 60);

        // Days later v2 misbehaves in the field: the operator takes the completed rollout back.
        var rolledBack = await node.Rollouts.RollbackAsync("bob", rollout.Id, "complaints from the field", CancellationToken.None);
        Assert.Equal(RolloutStatusKind.Aborted, rolledBack.State);
        await Eventually.Until(() => agent.ModelVersion == 1, "the device back on v1", 30);
        Assert.Equal(RolloutPhase.RolledBack, agent.Rollout!.Phase);
        Assert.Equal(1UL, node.DeployedVersion!.Version);
        Assert.Equal(VersionStates.Archived, node.Registry.Version("m", v2.Version)!.State);
        await Assert.ThrowsAsync<GovernanceException>(() => node.Rollouts.RollbackAsync("bob", rollout.Id, "twice", CancellationToken.None));
    }
}
