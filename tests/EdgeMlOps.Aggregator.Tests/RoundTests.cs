using System.Net;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Tests.Storage;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests;

public class RoundTests
{
    [Fact]
    public async Task Round_WithHostileInputs_RejectsEachByReason_AndAveragesOnlyValidUpdates()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 2));
        await node.StartAsync(CancellationToken.None);
        var before = node.CurrentWeights.Values.ToArray();
        await using var honest = new ScriptedDevice("honest", "test", node);
        await using var hostile = new ScriptedDevice("hostile", "test", node);
        await honest.ConnectAsync(30);
        await hostile.ConnectAsync(10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");

        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await hostile.NextTaskAsync(TimeSpan.FromSeconds(10));
        var honestTask = await honest.NextTaskAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(task.RoundId, honestTask.RoundId);

        await hostile.PublishRawAsync("update", [0xff, 0xff, 0xff, 0x01, 0x02]);
        var nan = hostile.Update(task, 1f, 10);
        var bytes = nan.Delta[0].Data.ToByteArray();
        BitConverter.GetBytes(float.NaN).CopyTo(bytes, 4);
        nan.Delta[0].Data = ByteString.CopyFrom(bytes);
        await hostile.PublishAsync("update", nan);
        var wrongShape = hostile.Update(task, 1f, 10);
        wrongShape.Delta[1].Dims[0] = 99;
        await hostile.PublishAsync("update", wrongShape);
        var stale = hostile.Update(task, 1f, 10);
        stale.BaseVersion = 0;
        await hostile.PublishAsync("update", stale);
        var spoofed = hostile.Update(task, 1f, 10);
        spoofed.Header.SenderId = "honest";
        await hostile.PublishAsync("update", spoofed);
        var valid = hostile.Update(task, 1f, 10);
        await hostile.PublishAsync("update", valid);
        await hostile.PublishAsync("update", valid); // replay of the same message id
        await honest.PublishAsync("update", honest.Update(honestTask, 3f, 30));

        var report = await round;
        Assert.Equal(RoundStatus.Completed, report.Status);
        Assert.Equal(2, report.Contributors);
        Assert.Equal(40, report.Samples);
        Assert.Equal(2UL, report.NewVersion);
        Assert.Equal(2, node.Rejections[RejectionReason.Malformed]);
        Assert.Equal(1, node.Rejections[RejectionReason.NonFinite]);
        Assert.Equal(1, node.Rejections[RejectionReason.WrongShape]);
        Assert.Equal(1, node.Rejections[RejectionReason.WrongBaseVersion]);
        Assert.Equal(1, node.Rejections[RejectionReason.Duplicate]);

        // New weights = old + (10 * 1 + 30 * 3) / 40 = old + 2.5, untouched by the rejected updates.
        var after = node.CurrentWeights.Values;
        for (var i = 0; i < after.Length; i++) Assert.Equal(before[i] + 2.5f, after[i], 4);

        // A late update for the closed round is refused as such.
        await honest.PublishAsync("update", honest.Update(honestTask, 3f, 30));
        await Eventually.Until(() => node.Rejections[RejectionReason.RoundClosed] == 1, "late update counted");
    }

    [Fact]
    public async Task Round_UnderQuorum_IsAbandoned_AndModelKept()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 2, deadlineSeconds: 1));
        await node.StartAsync(CancellationToken.None);
        await using var a = new ScriptedDevice("a", "test", node);
        await using var b = new ScriptedDevice("b", "test", node);
        await a.ConnectAsync(5);
        await b.ConnectAsync(5);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "devices eligible");

        var round = node.RunRoundAsync(CancellationToken.None);
        var task = await a.NextTaskAsync(TimeSpan.FromSeconds(10));
        await a.PublishAsync("update", a.Update(task, 1f, 5)); // b stays silent: 1 of 2, quorum 100%
        var report = await round;

        Assert.Equal(RoundStatus.Abandoned, report.Status);
        Assert.Equal(1, report.Contributors);
        Assert.Equal(1UL, node.CurrentVersion.Version);
        Assert.Equal(RoundStatus.Abandoned, node.Registry.Rounds("tiny").Single().Status);
    }

    [Fact]
    public async Task Round_TooFewDevices_DoesNotStart()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 2) with { Rounds = new RoundOptions { MinDevices = 3 } });
        await node.StartAsync(CancellationToken.None);
        var report = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(RoundStatus.NotStarted, report.Status);
        Assert.Empty(node.Registry.Rounds("tiny"));
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public async Task RoundCutShortByACrash_IsRerunUnderANewId_SoDevicesThatSawTheFirstAttemptTrainAgain(string engine)
    {
        using var stores = new TestStores(engine);
        var dir = stores.Directory;
        string firstId;
        await using (var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options }))
        {
            await node.StartAsync(CancellationToken.None);
            await using var device = new ScriptedDevice("d", "test", node);
            await device.ConnectAsync(5);
            await Eventually.Until(() => node.Devices.Eligible().Count == 1, "device eligible");
            using var crash = new CancellationTokenSource();
            var round = node.RunRoundAsync(crash.Token);
            firstId = (await device.NextTaskAsync(TimeSpan.FromSeconds(10))).RoundId;
            crash.Cancel(); // the process dies before the round is recorded
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => round);
        }

        await using var restarted = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options });
        await restarted.StartAsync(CancellationToken.None);
        await using var again = new ScriptedDevice("d", "test", restarted);
        await again.ConnectAsync(5);
        await Eventually.Until(() => restarted.Devices.Eligible().Count == 1, "device eligible after the restart");
        var rerun = restarted.RunRoundAsync(CancellationToken.None);
        var task = await again.NextTaskAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, restarted.Registry.LastRound("tiny")); // round 1 again: the cut-short attempt recorded nothing
        Assert.NotEqual(firstId, task.RoundId);
        Assert.StartsWith(firstId, task.RoundId, StringComparison.Ordinal);

        // An update for the cut-short attempt, arriving after the restart (a stale or replayed one), counts nowhere.
        var stale = again.Update(task, 100f, 1_000_000);
        stale.RoundId = firstId;
        await again.PublishAsync("update", stale);
        await Eventually.Until(() => restarted.Rejections.Snapshot().Values.Sum() == 1, "the stale update refused");
        await again.PublishAsync("update", again.Update(task, 0.5f, 5));
        Assert.Equal(RoundStatus.Completed, (await rerun).Status);
        Assert.Equal(task.RoundId, restarted.Registry.Rounds("tiny").Single().RoundId);
        Assert.Equal(5, restarted.Registry.Rounds("tiny").Single().Samples);
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public async Task AnUpdateRedeliveredAfterARestart_IsRecognisedAsADuplicate(string engine)
    {
        using var stores = new TestStores(engine);
        var dir = stores.Directory;
        ModelUpdate delivered;
        await using (var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options }))
        {
            await node.StartAsync(CancellationToken.None);
            await using var device = new ScriptedDevice("d", "test", node);
            await device.ConnectAsync(5);
            await Eventually.Until(() => node.Devices.Eligible().Count == 1, "device eligible");
            var round = node.RunRoundAsync(CancellationToken.None);
            delivered = device.Update(await device.NextTaskAsync(TimeSpan.FromSeconds(10)), 0.5f, 5);
            await device.PublishAsync("update", delivered);
            Assert.Equal(RoundStatus.Completed, (await round).Status);
        }

        // The same message again (QoS 1 redelivery, an outbox resending after the aggregator went down); ids that are
        // empty or oversized are refused as malformed, before anything is remembered.
        await using var restarted = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options });
        await restarted.StartAsync(CancellationToken.None);
        await using var again = new ScriptedDevice("d", "test", restarted);
        await again.ConnectAsync(5);
        await again.PublishAsync("update", delivered);
        await Eventually.Until(() => restarted.Rejections[RejectionReason.Duplicate] == 1, "the redelivered update known as a duplicate");
        Assert.Equal(0, restarted.Rejections[RejectionReason.UnknownRound]);
        var malformedBefore = restarted.Rejections[RejectionReason.Malformed];
        foreach (var id in new[] { string.Empty, new string('x', 129) })
        {
            var odd = delivered.Clone();
            odd.Header.MessageId = id;
            await again.PublishAsync("update", odd);
        }

        await Eventually.Until(() => restarted.Rejections[RejectionReason.Malformed] == malformedBefore + 2, "empty and oversized message ids refused");
        Assert.Equal(1, restarted.Rejections[RejectionReason.Duplicate]);
    }

    [Theory]
    [MemberData(nameof(TestStores.Engines), MemberType = typeof(TestStores))]
    public async Task Restart_ResumesFromLastCommittedVersion(string engine)
    {
        using var stores = new TestStores(engine);
        var dir = stores.Directory;
        float[] committed;
        await using (var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options }))
        {
            await node.StartAsync(CancellationToken.None);
            await using var device = new ScriptedDevice("d", "test", node);
            await device.ConnectAsync(5);
            await Eventually.Until(() => node.Devices.Eligible().Count == 1, "device eligible");
            var round = node.RunRoundAsync(CancellationToken.None);
            var task = await device.NextTaskAsync(TimeSpan.FromSeconds(10));
            await device.PublishAsync("update", device.Update(task, 0.5f, 5));
            Assert.Equal(RoundStatus.Completed, (await round).Status);
            committed = node.CurrentWeights.Values.ToArray();
        }

        await using var restarted = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1) with { Store = stores.Options });
        await restarted.StartAsync(CancellationToken.None);
        Assert.Equal(2UL, restarted.CurrentVersion.Version);
        Assert.Equal(committed, restarted.CurrentWeights.Values);
        Assert.Equal(1, restarted.Registry.LastRound("tiny"));
        Assert.Equal([1UL, 2UL], restarted.Registry.Versions("tiny").Select(v => v.Version));
        Assert.Equal(1UL, restarted.Registry.Versions("tiny")[1].Parent);
    }

    [Fact]
    public async Task Artifacts_AreServedByContentAddress_WithRanges()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1));
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        var sha = node.CurrentVersion.InferenceSha256;

        var bytes = await http.GetByteArrayAsync($"/v1/artifacts/{sha}");
        Assert.Equal(sha, ContentHash.Sha256Hex(bytes));
        Assert.Equal(node.CurrentVersion.InferenceSize, bytes.Length);

        using var range = new HttpRequestMessage(HttpMethod.Get, $"/v1/artifacts/{sha}");
        range.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(10, 19);
        using var partial = await http.SendAsync(range);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(bytes[10..20], await partial.Content.ReadAsByteArrayAsync());

        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/v1/artifacts/not-a-hash")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/artifacts/{new string('0', 64)}")).StatusCode);
    }

    [Fact]
    public async Task Artifacts_AreServed_WhenTheDataDirectoryIsRelative()
    {
        // The README's hand-run start uses the default relative "aggregator-data"; ASP.NET Core's
        // file result reads a relative path as a web-root path, so every download was a 500.
        var dir = Path.GetRelativePath(Environment.CurrentDirectory, AggregatorFixture.TempDirectory());
        Assert.False(Path.IsPathRooted(dir));
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1));
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        var sha = node.CurrentVersion.InferenceSha256;

        using var response = await http.GetAsync($"/v1/artifacts/{sha}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(sha, ContentHash.Sha256Hex(await response.Content.ReadAsByteArrayAsync()));
    }

    [Fact]
    public async Task StatusMessages_TrackPresence_IncludingProtocolMismatch()
    {
        var dir = AggregatorFixture.TempDirectory();
        await using var node = new AggregatorNode(AggregatorFixture.Options(dir, clients: 1));
        await node.StartAsync(CancellationToken.None);
        await using var device = new ScriptedDevice("p", "test", node);
        await device.ConnectAsync(7);
        await Eventually.Until(() => node.Devices.TryGet("p", out var d) && d.SampleCount == 7, "birth seen");

        var future = new DeviceStatus { Header = device.Header(), State = DeviceState.Offline };
        future.Header.ProtocolVersion = 2;
        await device.PublishAsync("status", future);
        await Eventually.Until(() => node.Rejections[RejectionReason.ProtocolVersion] == 1, "v2 status refused");
        Assert.True(node.Devices.TryGet("p", out var info) && info.State == DeviceState.Online);

        await device.PublishAsync("status", new DeviceStatus { Header = device.Header(), State = DeviceState.Offline });
        await Eventually.Until(() => node.Devices.Eligible().Count == 0, "offline seen");
    }
}
