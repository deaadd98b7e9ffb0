using System.Buffers;
using System.Collections.Concurrent;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// What the fleet's broker hands a gateway (docs/SECURITY.md, "Mutation fuzzing"), from a broker that was taken over or
/// an aggregator that broke: a real aggregator and a real <see cref="EdgeGateway"/> between its broker and a site's,
/// every message the gateway reads upstream — the trust bundle, the model's announcement, freshness statements, the
/// revocation list, the catalogue of model lines, a site device's task — recorded as the aggregator sent it and mutated
/// 200 times (<see cref="ProtobufMutator"/>), and the bodies of the task, the catalogue and the revocation list mutated
/// 200 times more and signed with the fleet's own key. The gateway refuses or relays each, counted, and nothing throws
/// into its receive loop; given the real statements again, its site trains the next round with the fleet.
/// Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw.
/// </summary>
public sealed class GatewayUpstreamFuzzTests(ITestOutputHelper output)
{
    private const int Mutations = 200;

    [Fact]
    public async Task MutationsOfWhatTheFleetSendsAGateway_AreRefusedOrRelayed_NeverThrow_AndItsSiteTrainsOn()
    {
        using var failures = new FailureLog();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(failures).SetMinimumLevel(LogLevel.Trace));
        var edge = new EdgeOptions { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } };
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2) with { Edge = edge };
        var fleetHub = new InMemoryFleetHub();
        var siteHub = new InMemoryFleetHub();
        await using var node = new AggregatorNode(options, loggers, channels: fleetHub);
        await node.StartAsync(CancellationToken.None);
        await using var gateway = new EdgeGateway(options with { DataDirectory = AggregatorFixture.TempDirectory() }, "site-a", fleetHub, siteHub, node.Keys.RootPublicKey, TimeProvider.System, loggers);
        await gateway.StartAsync(CancellationToken.None);

        // What the aggregator sends, as it sent it; the recorder and the injector are clients of the fleet's broker.
        var topics = new Topics("test");
        var recorded = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        await using var recorder = fleetHub.Create(new FleetChannelOptions("recorder") { CleanStart = true }, NullLoggerFactory.Instance);
        recorder.MessageReceived = (topic, payload) =>
        {
            recorded[topic] = payload.ToArray();
            return Task.CompletedTask;
        };
        await recorder.SubscribeAsync(["edgemlops/v1/#"], CancellationToken.None);
        await recorder.ConnectAsync(CancellationToken.None);
        await using var injector = fleetHub.Create(new FleetChannelOptions("injector") { CleanStart = true }, NullLoggerFactory.Instance);
        await injector.ConnectAsync(CancellationToken.None);

        ScriptedDevice OnSite(string id) => new(id, "test", siteHub.Create(new FleetChannelOptions(id) { CleanStart = true }, NullLoggerFactory.Instance));
        await using var first = OnSite("dev-a1");
        await using var second = OnSite("dev-a2");
        await first.ConnectAsync(samples: 10);
        await second.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both site devices eligible at the fleet's aggregator");
        var warmUp = await TrainRoundAsync(node, first, second);
        Assert.Equal(RoundStatus.Completed, warmUp.Status);
        await Eventually.Until(() => recorded.ContainsKey(topics.Task("dev-a1")) && recorded.ContainsKey(topics.Catalogue) && recorded.ContainsKey(topics.Revocations), "the fleet's statements and a task recorded");
        var genuine = recorded.Where(r => r.Key == topics.Model || r.Key == topics.Trust || r.Key == topics.Timestamp || r.Key == topics.Revocations || r.Key == topics.Catalogue || r.Key == topics.Rollout)
            .ToDictionary(r => r.Key, r => r.Value, StringComparer.Ordinal);

        // A third site device, heard from, takes the mutated tasks: the honest two keep their queues for the real round.
        await using var target = OnSite("dev-a3");
        await target.ConnectAsync(samples: 10);
        var targetTask = topics.Task("dev-a3");
        var forTarget = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(recorded[topics.Task("dev-a1")]).Body);
        forTarget.DeviceId = "dev-a3"; // as the aggregator would have tasked it
        var task = node.Keys.Sign(forTarget).ToByteArray();
        await Eventually.Until(() => node.Devices.Eligible().Count == 3, "the third site device heard at the fleet's aggregator");

        var mutator = new ProtobufMutator(FuzzSeed.Value);
        var injected = 0;
        async Task InjectAsync(string topic, byte[] payload)
        {
            await injector.PublishAsync(topic, payload, retain: topic != targetTask, CancellationToken.None);
            injected++;
        }

        foreach (var (topic, payload) in genuine.Append(new(targetTask, task)))
        {
            for (var i = 0; i < Mutations; i++)
            {
                await InjectAsync(topic, topic == topics.Model ? mutator.Mutate(ModelAnnouncement.Parser.ParseFrom(payload)) : mutator.Mutate(Signed.Parser.ParseFrom(payload)));
            }
        }

        // A broken aggregator signs what it should not: the bodies the gateway acts on, mutated and signed with the fleet's key.
        var signedBodies = 0;
        var catalogue = ModelCatalogue.Parser.ParseFrom(Signed.Parser.ParseFrom(genuine[topics.Catalogue]).Body);
        catalogue.Lines.Add(new ModelLine { Name = "kws", MemoryRequestBytes = 64 << 20, Cohort = { ["site"] = new CohortValues { Values = { "a" } } } }); // lines to mangle
        for (var i = 0; i < Mutations; i++)
        {
            if (Parse(RoundTask.Parser, mutator.Mutate(RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(task).Body))) is { } forgedTask)
            {
                await InjectAsync(targetTask, node.Keys.Sign(forgedTask).ToByteArray());
                signedBodies++;
            }

            if (Parse(ModelCatalogue.Parser, mutator.Mutate(catalogue)) is { } forgedCatalogue)
            {
                await InjectAsync(topics.Catalogue, node.Keys.Sign(forgedCatalogue).ToByteArray());
                signedBodies++;
            }

            if (Parse(DeviceRevocations.Parser, mutator.Mutate(DeviceRevocations.Parser.ParseFrom(Signed.Parser.ParseFrom(genuine[topics.Revocations]).Body))) is { } forgedList)
            {
                forgedList.DeviceIds.Remove("dev-a1"); // a signed list naming the honest devices would rightly take them out
                forgedList.DeviceIds.Remove("dev-a2");
                await InjectAsync(topics.Revocations, node.Keys.Sign(forgedList).ToByteArray());
                signedBodies++;
            }
        }

        // The gateway reads its upstream in order: once a last real task reaches the site, it has judged every mutation.
        var sentinel = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(task).Body);
        sentinel.RoundId = "sentinel";
        await injector.PublishAsync(targetTask, node.Keys.Sign(sentinel).ToByteArray(), retain: false, CancellationToken.None);
        while ((await target.NextTaskAsync(TimeSpan.FromSeconds(60))).RoundId != "sentinel")
        {
        }

        Assert.Equal(0, fleetHub.Dropped + siteHub.Dropped);
        output.WriteLine($"{injected} messages injected ({signedBodies} signed with the fleet's key); the gateway refused {string.Join(", ", gateway.Rejections.Snapshot().OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"))}; catalogues refused {gateway.CataloguesRefused}; lines followed: {gateway.Lines.Count}");
        Assert.All(failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));

        // The real statements again (the aggregator re-signs them), and the site trains the next round with the fleet.
        await node.RepublishAsync(CancellationToken.None);
        var next = await TrainRoundAsync(node, first, second);
        Assert.Equal((RoundStatus.Completed, 2), (next.Status, next.Contributors));
        Assert.All(failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));
    }

    private static async Task<RoundReport> TrainRoundAsync(AggregatorNode node, ScriptedDevice first, ScriptedDevice second)
    {
        var round = node.RunRoundAsync(CancellationToken.None);
        var firstTask = await first.NextTaskAsync(TimeSpan.FromSeconds(20));
        var secondTask = await second.NextTaskAsync(TimeSpan.FromSeconds(20));
        await first.PublishAsync("update", first.Update(firstTask, 0.01f, samples: 10));
        await second.PublishAsync("update", second.Update(secondTask, 0.02f, samples: 10));
        return await round;
    }

    private static T? Parse<T>(MessageParser<T> parser, byte[] bytes)
        where T : class, IMessage<T>
    {
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
