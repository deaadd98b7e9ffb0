using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Shared;
using EdgeMlOps.Shared.Aggregation;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>What is open for devices to answer, without broker or node.</summary>
public sealed class OpenRoundsTests : IDisposable
{
    private static readonly ParameterLayout Layout = ParameterLayout.For(ModelSpecText.Parse("logreg-4-2"));
    private readonly Microsoft.Extensions.Time.Testing.FakeTimeProvider _clock = new(new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero));
    private readonly OpenRounds _open;

    public OpenRoundsTests() => _open = new OpenRounds(new RoundTurnout(priorCompletion: 0.5, priorWeight: 0), _clock);

    public void Dispose() => _open.Dispose();

    private static ModelUpdate Update(string round, string device)
    {
        var update = new ModelUpdate { Header = ProtocolInfo.NewHeader("f", device, 1, 0), RoundId = round, ModelName = "m", BaseVersion = 1, SampleCount = 5 };
        update.Delta.AddRange(TensorCodec.Encode(Layout, new float[Layout.TotalLength]));
        return update;
    }

    [Fact]
    public void TheTurnout_CountsAcceptedAndLateUpdates_OfSelectedDevices_BeforeTheDeadline()
    {
        var round = new RoundAccumulator("m-r1-v1", "m", 1, Layout, ["a", "b", "c", "d"]);
        _open.Turnout.Begin(round.RoundId, ["a", "b", "c", "d"], _clock.GetUtcNow().AddSeconds(60));
        _open.Open(round);
        Assert.True(_open.Offer("a", Update("m-r1-v1", "a")).Accepted);
        _open.Close(round); // the target was reached early
        Assert.Equal(RejectionReason.RoundClosed, _open.Offer("b", Update("m-r1-v1", "b")).Reason); // late, but before the deadline
        _clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(RejectionReason.RoundClosed, _open.Offer("c", Update("m-r1-v1", "c")).Reason); // after the deadline: a dropout

        _open.Turnout.Begin("m-r2-v2", ["a"], _clock.GetUtcNow().AddSeconds(60));
        Assert.Equal(2.0 / 4, _open.Turnout.Completion, 9);
    }

    [Fact]
    public async Task AnUpdateForTheOpenRound_IsTakenAndWakesTheCoordinator_AfterCloseItIsRoundClosed()
    {
        var round = new RoundAccumulator("m-r1-v1", "m", 1, Layout, ["a", "b"]);
        _open.Open(round);
        var progress = _open.WaitForProgressAsync(CancellationToken.None);
        Assert.False(progress.IsCompleted);

        Assert.True(_open.Offer("a", Update("m-r1-v1", "a")).Accepted);
        await progress.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(1, round.AcceptedCount);

        var notSelected = _open.Offer("z", Update("m-r1-v1", "z"));
        Assert.Equal(RejectionReason.NotSelected, notSelected.Reason);

        _open.Close(round);
        Assert.Equal(RejectionReason.RoundClosed, _open.Offer("b", Update("m-r1-v1", "b")).Reason);
        Assert.Equal(RejectionReason.UnknownRound, _open.Offer("b", Update("m-r9-v1", "b")).Reason);
    }

    [Fact]
    public void BytesAreCountedPerRound()
    {
        _open.CountBytes(100);
        _open.Open(new RoundAccumulator("r", "m", 1, Layout, ["a"]));
        _open.CountBytes(40);
        Assert.Equal(40, _open.BytesUp);
        Assert.Equal(40, _open.TakeBytes());
        Assert.Equal(0, _open.BytesUp);
    }

    [Fact]
    public void AnEvaluation_GoesToTheEvaluationItNames_OnceFromEachSelectedDevice()
    {
        var evaluation = new FederatedEvaluation("m-eval-1", 3, ["a", "b"], new StandardStrategy(new StrategyOptions()));
        var result = new EvaluationResult { Header = ProtocolInfo.NewHeader("f", "a", 1, 0), RoundId = "m-eval-1", Version = 3, SampleCount = 10, Accuracy = 0.9, Loss = 0.3 };
        Assert.Equal(RejectionReason.UnknownRound, _open.Offer("a", result).Reason);

        _open.Open(evaluation);
        Assert.True(_open.Offer("a", result).Accepted);
        Assert.Equal(RejectionReason.Duplicate, _open.Offer("a", result).Reason);
        Assert.Equal(RejectionReason.NotSelected, _open.Offer("c", result).Reason);
        Assert.Equal(RejectionReason.WrongBaseVersion, _open.Offer("b", new EvaluationResult(result) { Version = 2 }).Reason);
        _open.CloseEvaluation();
        Assert.Equal(RejectionReason.UnknownRound, _open.Offer("b", result).Reason);
        Assert.Equal(1, evaluation.Report().Reported);
    }
}
