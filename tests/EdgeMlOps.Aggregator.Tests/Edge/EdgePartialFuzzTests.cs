using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// A compromised gateway (docs/SECURITY.md, "Mutation fuzzing"): its site's honest partial — three devices' real updates
/// folded as a gateway folds them, in fp64 and in exact mode — mutated 3,000 times (<see cref="ProtobufMutator"/>) and
/// put through what the aggregator does with a partial: <see cref="EdgePartialCheck"/>, the open round's merge beside
/// a device's own update, and the round's close. Nothing throws, and a partial taken moves the model no further than
/// its devices could have themselves: the round's delta is finite and within <c>Strategy:MaxUpdateNorm</c> (a weighted
/// mean of updates each within it is), its samples are the ones its devices claim, and the devices' own loss and
/// accuracy stay finite. Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw.
/// </summary>
public class EdgePartialFuzzTests(ITestOutputHelper output)
{
    private const double MaxNorm = 2;
    private static readonly ModelSpec Spec = ModelSpecText.Parse("mlp-8-6-3");
    private static readonly ParameterLayout Layout = ParameterLayout.For(Spec);
    private static readonly EdgeOptions Edge = new() { Gateways = new Dictionary<string, IReadOnlyList<string>> { ["site-a"] = ["dev-a*"] } };
    private static readonly string[] Site = ["dev-a1", "dev-a2", "dev-a3"];
    private static readonly Topics Topics = new("test");

    [Theory]
    [InlineData(false, MaxNorm)]
    [InlineData(true, MaxNorm)]
    [InlineData(false, 0)] // no bound: a mean of floats, finite
    [InlineData(true, 0)]
    public void MutatedPartialsOfACompromisedGateway_AreRefusedOrBoundedAsItsDevicesAre_AndNeverThrow(bool exact, double maxNorm)
    {
        var strategy = new StandardStrategy(new StrategyOptions { MaxUpdateNorm = maxNorm, ExactSum = exact });
        var random = new Random(FuzzSeed.Value);
        var honest = HonestPartial(strategy, random);
        var own = Update("dev-b1", random, samples: 25);
        Assert.True(Merged(strategy, honest, own, out _).Accepted, "the honest partial is merged");

        var mutator = new ProtobufMutator(FuzzSeed.Value);
        var (taken, refused) = (0, new Dictionary<RejectionReason, int>());
        for (var i = 0; i < 3000; i++)
        {
            EdgePartial partial;
            try
            {
                partial = EdgePartial.Parser.ParseFrom(mutator.Mutate(honest));
            }
            catch (InvalidProtocolBufferException)
            {
                continue;
            }

            var outcome = Merged(strategy, partial, own, out var aggregate);
            if (!outcome.Accepted)
            {
                refused[outcome.Reason] = refused.GetValueOrDefault(outcome.Reason) + 1;
                continue;
            }

            var claimed = partial.Share.Contributors.Sum(c => (long)c.Samples) + 25;
            Assert.Equal(claimed, aggregate!.Samples);
            Assert.All(aggregate.MeanDelta, v => Assert.True(float.IsFinite(v)));
            var norm = Math.Sqrt(aggregate.MeanDelta.Sum(v => (double)v * v));
            Assert.True(maxNorm == 0 || norm <= maxNorm * 1.0001, $"mutation {i}: a partial moved the model by {norm}, beyond the {maxNorm} each device may");
            Assert.False(double.IsInfinity(aggregate.MeanLocalLoss) || double.IsInfinity(aggregate.MeanLocalAccuracy), $"mutation {i}: loss {aggregate.MeanLocalLoss}, accuracy {aggregate.MeanLocalAccuracy}");
            taken++;
        }

        output.WriteLine($"{(exact ? "exact" : "fp64")}, MaxUpdateNorm {maxNorm}: {taken} of 3,000 taken; refused: {string.Join(", ", refused.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"))}");
        Assert.InRange(taken, 1, 2999);
    }

    /// <summary>
    /// The same over the fleet's TLS broker, with the gateway's own certificate: 400 mutations of site-a's partial for
    /// its device in an open round, then the honest partial. Every one that reaches the aggregator is merged or refused
    /// and counted (nothing lost, nothing logged as a failure), the round completes with both devices, and the model
    /// moves no further than <c>Strategy:MaxUpdateNorm</c> allows.
    /// </summary>
    [Fact]
    public async Task MutatedPartialsOverTheFleetsBroker_AreEachMergedOrRefusedAndCounted_AndTheRoundCompletes()
    {
        using var failures = new FailureLog();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(failures).SetMinimumLevel(LogLevel.Trace));
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 2);
        await using var node = new AggregatorNode(options with { Edge = Edge, Strategy = options.Strategy with { MaxUpdateNorm = MaxNorm } }, loggers);
        await node.StartAsync(CancellationToken.None);
        await using var siteDevice = new ScriptedDevice("dev-a1", "test", node);
        await using var otherDevice = new ScriptedDevice("dev-b1", "test", node);
        await siteDevice.ConnectAsync(samples: 10);
        await otherDevice.ConnectAsync(samples: 10);
        await Eventually.Until(() => node.Devices.Eligible().Count == 2, "both devices eligible");
        var certificate = node.Security.Authority.IssueClientWithKey(new FleetIdentity("site-a", FleetRole.Gateway, "test"), DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        await using var gateway = new MqttTransport(new MqttTransportOptions(FleetIdentity.GatewayClientId("site-a"), node.BrokerEndpoint)
        {
            CleanStart = true, Tls = new MqttTlsSettings(node.Security.Authority.Certificate, _ => certificate), ConnectTimeout = TimeSpan.FromSeconds(5),
        });
        await gateway.ConnectAsync(CancellationToken.None);

        var before = node.CurrentWeights.Values.ToArray();
        var round = node.RunRoundAsync(CancellationToken.None);
        var taskA = await siteDevice.NextTaskAsync(TimeSpan.FromSeconds(20));
        var taskB = await otherDevice.NextTaskAsync(TimeSpan.FromSeconds(20));
        EdgePartial Partial(float value, ulong sequence)
        {
            var site = new RoundAccumulator(taskA.RoundId, taskA.ModelName, taskA.BaseVersion, ParameterLayout.For(AggregatorFixture.Spec), ["dev-a1"], StandardStrategy.Create(node.Options.Strategy), null);
            Assert.True(site.Offer("dev-a1", siteDevice.Update(taskA, value, samples: 10)).Accepted);
            return new EdgePartial { Header = ProtocolInfo.NewHeader("test", "site-a", sequence, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), ModelName = taskA.ModelName, BaseVersion = taskA.BaseVersion, Share = site.Share("site-a") };
        }

        var mutator = new ProtobufMutator(FuzzSeed.Value);
        var original = Partial(0.05f, 1);
        const int Mutations = 400;
        for (var i = 0; i < Mutations; i++) await gateway.PublishAsync(Topics.GatewayPartial("site-a"), mutator.Mutate(original), retain: false, CancellationToken.None);
        await gateway.PublishAsync(Topics.GatewayPartial("site-a"), Partial(0.05f, 2).ToByteArray(), retain: false, CancellationToken.None);
        GatewayFigures Site() => Assert.Single(node.Gateways.Snapshot());
        await Eventually.Until(() => Site().PartialsMerged + Site().Refused.Values.Sum() == Mutations + 1, "every partial merged or refused");
        await otherDevice.PublishAsync("update", otherDevice.Update(taskB, 0.03f, samples: 10));
        var report = await round;

        output.WriteLine($"merged {Site().PartialsMerged}; refused: {string.Join(", ", Site().Refused.OrderByDescending(r => r.Value).Select(r => $"{r.Key} {r.Value}"))}");
        Assert.Equal(2, report.Contributors);
        Assert.Equal(1, Site().PartialsMerged); // one partial per device and round, mutated or not
        Assert.Empty(failures.Entries);
        var after = node.CurrentWeights.Values;
        var moved = Math.Sqrt(after.Select((w, i) => (double)(w - before[i]) * (w - before[i])).Sum());
        Assert.True(moved <= MaxNorm * 1.0001, $"the round moved the model by {moved}");
    }

    /// <summary>The aggregator's path for a gateway's partial in an open round that took <paramref name="own"/> from a device first.</summary>
    private static OfferOutcome Merged(FederatedStrategy strategy, EdgePartial partial, ModelUpdate own, out RoundAggregate? aggregate)
    {
        aggregate = null;
        var outcome = EdgePartialCheck.Check("site-a", partial, Edge);
        if (!outcome.Accepted) return outcome;
        var round = new RoundAccumulator("r1", "m", 1, Layout, [.. Site, "dev-b1"], strategy, new RoundContext(1, 4, 4, 4, 1));
        Assert.True(round.Offer("dev-b1", own).Accepted);
        var merged = round.Merge(partial.Share);
        if (!merged.Accepted) return new OfferOutcome(false, merged.Reason, merged.Detail);
        aggregate = round.Close();
        return OfferOutcome.Taken;
    }

    /// <summary>What gateway site-a sends for round r1: its three devices' updates folded as <see cref="SiteRounds"/> folds them.</summary>
    private static EdgePartial HonestPartial(FederatedStrategy strategy, Random random)
    {
        var site = new RoundAccumulator("r1", "m", 1, Layout, Site, strategy, new RoundContext(1, 3, 3, 3, 1));
        foreach (var (device, i) in Site.Select((d, i) => (d, i))) Assert.True(site.Offer(device, Update(device, random, samples: 10UL * (ulong)(i + 1))).Accepted);
        return new EdgePartial { Header = ProtocolInfo.NewHeader("gateway", "site-a", 1, 0), ModelName = "m", BaseVersion = 1, Share = site.Share("site-a") };
    }

    /// <summary>A device's update of norm 1.5 (within the round's 2), with its training loss and accuracy.</summary>
    private static ModelUpdate Update(string device, Random random, ulong samples)
    {
        var delta = Enumerable.Range(0, Layout.TotalLength).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var scale = (float)(1.5 / Math.Sqrt(delta.Sum(v => (double)v * v)));
        var update = new ModelUpdate
        {
            Header = ProtocolInfo.NewHeader("agent", device, 1, 0), RoundId = "r1", ModelName = "m", BaseVersion = 1, SampleCount = samples,
            Metrics = new LocalMetrics { Loss = 0.4 + random.NextDouble(), Accuracy = random.NextDouble() },
        };
        update.Delta.AddRange(TensorCodec.Encode(Layout, [.. delta.Select(v => v * scale)]));
        return update;
    }
}
