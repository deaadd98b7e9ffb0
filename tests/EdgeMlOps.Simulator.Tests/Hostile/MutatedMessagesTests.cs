using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Xunit.Abstractions;

namespace EdgeMlOps.Simulator.Tests.Hostile;

/// <summary>
/// A compromised device — enrolled, with its own certificate — sends mutations of the messages a real agent sends
/// (statuses, updates in an open round, evaluation answers with importance and dependence, monitoring profiles). The
/// aggregator must refuse what is wrong and count it by reason, never let a handler throw into its receive loop, keep
/// the model finite, keep the other device's state, and run the next round. Seeded: <c>EDGEMLOPS_FUZZ_SEED</c> replays another draw.
/// </summary>
[Collection(FleetCollection.Name)]
public class MutatedMessagesTests(ITestOutputHelper output)
{
    private static int Seed => FuzzSeed.Value;

    [Fact]
    public async Task MutatedMessages_FromAnEnrolledDevice_AreRefusedAndCounted_NeverThrow_AndTheFleetGoesOn()
    {
        await using var fleet = await HostileFleet.StartAsync(Seed);
        var (node, relay) = (fleet.Node, fleet.Relay);

        // Updates in an open round, answers to a federated evaluation with importance and dependence, a monitoring
        // profile, then statuses (last: a forged status may take the device out of the fleet's selections).
        relay.Armed = "update";
        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(RoundStatus.Completed, round.Status);
        await fleet.BothHoldAsync(round.NewVersion!.Value);
        relay.Armed = "eval";
        var evaluation = await node.RunFederatedEvaluationAsync(2, CancellationToken.None, importanceInputs: [0, 1], dependenceInputs: [0]);
        Assert.True(evaluation.Reported >= 1, "the honest device's answer counts");
        var profiles = node.ProfilesAccepted;
        relay.Armed = "profile";
        fleet.Mallory.Agent.FlushProfile();
        await Eventually.Until(() => relay.Sent.GetValueOrDefault("profile") == relay.Copies, "the profile's mutations sent", 60);
        relay.Armed = "status";
        await fleet.Mallory.Agent.PublishStatusAsync(CancellationToken.None);
        relay.Armed = null;

        var sent = relay.Sent;
        Assert.Equal(["eval", "profile", "status", "update"], sent.Keys.Order().ToArray());
        var refused = node.Rejections.Snapshot();
        output.WriteLine("sent: " + string.Join(", ", sent.Select(s => $"{s.Key}×{s.Value}")) + "; refused: " + string.Join(", ", refused.Select(r => $"{r.Key}×{r.Value}"))
            + $"; profiles accepted {node.ProfilesAccepted - profiles}; round 1: {round.Contributors} contributors, {round.Rejected} rejected; evaluation: {evaluation.Reported} reported");
        Assert.All(fleet.Failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));
        Assert.True(refused.Count >= 5, "the mutations reach several checks");
        Assert.True(node.Rejections.Total >= sent.Values.Sum() / 3, $"{node.Rejections.Total} refused of {sent.Values.Sum()} sent");
        Assert.All(node.CurrentWeights.Values, v => Assert.True(float.IsFinite(v)));
        Assert.True(node.Devices.TryGet("honest-1", out var kept) && kept.SampleCount == 40, "the other device's state is its own");

        // The fleet goes on: another round completes, the model finite.
        var next = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(RoundStatus.Completed, next.Status);
        Assert.True(next.Contributors >= 1);
        Assert.All(node.CurrentWeights.Values, v => Assert.True(float.IsFinite(v)));
        Assert.All(fleet.Failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));
    }

    /// <summary>
    /// A round closes once its devices reported, so few mutations reach the deepest checks over the wire. Here the
    /// agent's own update, evaluation answer and profile are mutated 3,000 times each straight into those checks: the
    /// update's (sample count, tensors, norm), an evaluation's with the task's importance and dependence asked (and its
    /// report), a profile's reading and the drift evaluation of the window it joins. A check refuses or takes; it never
    /// throws, and what it takes is finite.
    /// </summary>
    [Fact]
    public async Task MutationsOfARealAgentsMessages_AreRefusedOrTaken_ByTheDeepestChecks_NeverThrow()
    {
        await using var fleet = await HostileFleet.StartAsync(Seed);
        var node = fleet.Node;
        var round = await node.RunRoundAsync(CancellationToken.None);
        await fleet.BothHoldAsync(round.NewVersion!.Value);
        await node.RunFederatedEvaluationAsync(2, CancellationToken.None, importanceInputs: [0, 1], dependenceInputs: [0]);
        fleet.Mallory.Agent.FlushProfile();
        await Eventually.Until(() => node.ProfilesAccepted >= 1, "the agent's profile");

        var mutator = new ProtobufMutator(Seed);
        var update = ModelUpdate.Parser.ParseFrom(fleet.Relay.Original("update"));
        var answer = EvaluationResult.Parser.ParseFrom(fleet.Relay.Original("eval"));
        var profile = ProfileReport.Parser.ParseFrom(fleet.Relay.Original("profile"));
        var task = fleet.Relay.Tasks.Last(t => t.Kind == TaskKind.Evaluate);
        var layout = ParameterLayout.For(node.Options.Model);
        var window = node.Monitor.WindowOf(DateTimeOffset.UtcNow);
        var taken = new Dictionary<string, int> { ["update"] = 0, ["eval"] = 0, ["profile"] = 0 };
        for (var i = 0; i < 3000; i++)
        {
            if (Parse(ModelUpdate.Parser, mutator.Mutate(update)) is { } u && UpdateChecks.Check(layout, u, 1_000_000, maxNorm: null, out var norm) is null)
            {
                Assert.True(double.IsFinite(norm));
                var values = new float[layout.TotalLength];
                foreach (var (tensor, slot) in u.Delta.Zip(layout.Tensors)) TensorCodec.Decode(tensor, values.AsSpan(slot.Offset, slot.Length));
                Assert.All(values, v => Assert.True(float.IsFinite(v)));
                taken["update"]++;
            }

            if (Parse(EvaluationResult.Parser, mutator.Mutate(answer)) is { } a)
            {
                var evaluation = new FederatedEvaluation(a.RoundId, task.BaseVersion, ["mallory"], node.Strategy, task.ImportanceInputs, task.Dependence, node.Options.Model.Classes);
                if (evaluation.TryAdd("mallory", a, out _))
                {
                    var report = evaluation.Report();
                    Assert.False(double.IsInfinity(report.Accuracy) || double.IsInfinity(report.Loss));
                    Assert.All(report.Importance?.Importance ?? [], v => Assert.False(double.IsInfinity(v.Mean) || double.IsInfinity(v.StdDev)));
                    Assert.All(report.Importance?.Dependence ?? [], c => Assert.All(c.Average.SelectMany(p => p), v => Assert.False(double.IsInfinity(v))));
                    taken["eval"]++;
                }
            }

            if (Parse(ProfileReport.Parser, mutator.Mutate(profile)) is { } p)
            {
                WindowProfile read;
                try
                {
                    read = node.Monitor.Read(p);
                }
                catch (InvalidDataException)
                {
                    continue;
                }

                node.Monitor.Add(round.NewVersion!.Value, null, window, read);
                node.Monitor.Evaluate(window);
                taken["profile"]++;
            }
        }

        output.WriteLine("taken of 3,000 each: " + string.Join(", ", taken.Select(t => $"{t.Key} {t.Value}")));
        Assert.All(taken, t => Assert.InRange(t.Value, 1, 2999));
    }

    /// <summary>
    /// The other way: what the fleet sends a device (the model's announcement, the trust bundle, rollouts, freshness
    /// statements, its round tasks), mutated 300 times each and handed to a real agent as if its broker delivered them
    /// — and its tasks mutated 300 times more and signed with the fleet's own key, as a broken aggregator would. The
    /// agent refuses what is not signed or not for it, never throws, keeps serving its version, and still trains the
    /// next real round (no signed task it was sent keeps it busy past its deadline).
    /// </summary>
    [Fact]
    public async Task MutationsOfWhatTheFleetSendsADevice_AreRefused_NeverThrow_AndTheAgentServesAndTrainsOn()
    {
        await using var fleet = await HostileFleet.StartAsync(Seed);
        var (node, relay, agent) = (fleet.Node, fleet.Relay, fleet.Mallory.Agent);
        var round = await node.RunRoundAsync(CancellationToken.None);
        await fleet.BothHoldAsync(round.NewVersion!.Value);
        var received = relay.Received;
        var topics = new EdgeMlOps.Shared.Protocol.Topics("fuzz");
        Assert.Contains(topics.Model, received.Keys);
        Assert.Contains(topics.Task("mallory"), received.Keys);

        var mutator = new ProtobufMutator(Seed);
        var injected = 0;
        foreach (var (topic, payload) in received)
        {
            for (var i = 0; i < 300; i++, injected++)
            {
                await relay.InjectAsync(topic, topic == topics.Model
                    ? mutator.Mutate(ModelAnnouncement.Parser.ParseFrom(payload))
                    : mutator.Mutate(Signed.Parser.ParseFrom(payload)));
            }
        }

        var task = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(received[topics.Task("mallory")]).Body);
        for (var i = 0; i < 300; i++, injected++)
        {
            if (Parse(RoundTask.Parser, mutator.Mutate(task)) is { } forged) await relay.InjectAsync(topics.Task("mallory"), node.Keys.Sign(forged).ToByteArray());
        }

        output.WriteLine($"{injected} messages injected; the agent counted {agent.Counters.MalformedMessages} malformed");
        Assert.All(fleet.Failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));
        Assert.Equal(round.NewVersion, agent.ModelVersion);
        Assert.Equal(round.NewVersion, agent.Predict(new float[HostileFleet.Features]).ModelVersion);

        var next = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal((RoundStatus.Completed, 2), (next.Status, next.Contributors));
        Assert.All(fleet.Failures.Entries, e => Assert.Fail("a handler failed or an error was logged: " + e));
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
