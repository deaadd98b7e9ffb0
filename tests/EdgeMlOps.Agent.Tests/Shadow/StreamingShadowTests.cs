using EdgeMlOps.Agent.Serving;
using EdgeMlOps.Agent.Shadow;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Shadow;

/// <summary>
/// A shadow test of a streaming model (PyTorch's GRU digit scanner): the candidate carries its own state through each
/// session, so what it is compared on is what it would have answered serving the sessions itself — not the served
/// version's rows, which hold the served version's state — and only whole sessions are scored.
/// </summary>
public sealed class StreamingShadowTests
{
    private readonly SharedCache<InferenceModel> _cache = new();

    private static ShadowPolicy Everything => new() { Share = 1, SampleRate = 1, MaxCpuShare = 1, MaxPending = 4096 };

    [Fact]
    public async Task TheCandidate_IsScoredOnEachSessionFromItsOwnState_AsServingTheSessionsItselfAnswers()
    {
        const int Sessions = 12;
        var other = StreamingDigits.OtherVersion();
        using var incumbent = StreamingDigits.Load(StreamingDigits.Bytes);
        using var alone = StreamingDigits.Load(other);
        var served = StreamingDigits.Chains(incumbent, Sessions);
        var own = StreamingDigits.Chains(alone, Sessions);
        ulong agreed = 0, candidateCorrect = 0, incumbentCorrect = 0;
        double distance = 0, fromServedRows = 0;
        for (var i = 0; i < served.Count; i++)
        {
            var (a, b) = (served[i].Answer, own[i].Answer);
            agreed += a.Labels[0] == b.Labels[0] ? 1UL : 0;
            distance += ShadowStats.TotalVariation(a.Probabilities, b.Probabilities);
            fromServedRows += ShadowStats.TotalVariation(a.Probabilities, alone.Predict(served[i].Row, 1).Probabilities);
            if (served[i].Call != StreamingDigits.Calls - 1) continue;
            var truth = StreamingDigits.Labels[served[i].Session % StreamingDigits.Scans];
            incumbentCorrect += a.Labels[0] == truth ? 1UL : 0;
            candidateCorrect += b.Labels[0] == truth ? 1UL : 0;
        }

        Assert.True(Math.Abs(fromServedRows - distance) > 0.05, $"the candidate on the served rows ({fromServedRows}) must differ from the candidate serving alone ({distance}) for this test to tell them apart");
        var session = new ShadowSession("r1", 1, 2, await _cache.AcquireAsync("v2", () => Task.FromResult(StreamingDigits.Load(other))), Everything, memoryBytes: 0);
        await using (session)
        {
            for (var i = 0; i < served.Count; i++)
            {
                var (s, call, row, answer) = served[i];
                session.Offer($"p{i}", row, answer.Labels[0], answer.Probabilities, TimeSpan.FromMilliseconds(1), new SessionCall($"scan-{s}", Reset: call == 0));
                if (call == StreamingDigits.Calls - 1) session.Outcome($"p{i}", StreamingDigits.Labels[s % StreamingDigits.Scans]);
            }

            await Eventually.Until(() => session.Report().Labelled == Sessions, "the last call of every session scored and paired");
            var report = session.Report();
            Assert.Equal((ulong)served.Count, report.Scored);
            Assert.Equal(0UL, report.Skipped + report.CandidateErrors);
            Assert.Equal(agreed, report.Agreed);
            Assert.Equal(distance, report.DistanceSum, 1e-4);
            Assert.Equal(incumbentCorrect, report.IncumbentCorrect);
            Assert.Equal(candidateCorrect, report.CandidateCorrect);
        }
    }

    [Fact]
    public async Task ACallOfASessionTheCandidateDidNotSeeStart_IsSkippedForItsState_AndTheSessionIsScoredAgainOnceItRestarts()
    {
        var other = StreamingDigits.OtherVersion();
        using var incumbent = StreamingDigits.Load(StreamingDigits.Bytes);
        var served = StreamingDigits.Chains(incumbent, 1);
        var session = new ShadowSession("r1", 1, 2, await _cache.AcquireAsync("v2", () => Task.FromResult(StreamingDigits.Load(other))), Everything, memoryBytes: 0);
        await using (session)
        {
            // The test began while the session was at its third call: its last two calls are not scored.
            for (var i = 2; i < served.Count; i++) session.Offer($"late{i}", served[i].Row, served[i].Answer.Labels[0], served[i].Answer.Probabilities, TimeSpan.Zero, new SessionCall("scan-0", Reset: i == 0));
            for (var i = 0; i < served.Count; i++) session.Offer($"p{i}", served[i].Row, served[i].Answer.Labels[0], served[i].Answer.Probabilities, TimeSpan.Zero, new SessionCall("scan-0", Reset: i == 0));
            await Eventually.Until(() => session.Report().Scored == (ulong)served.Count, "the restarted session scored whole");
            var report = session.Report();
            Assert.Equal(2UL, report.SkippedState);
            Assert.Equal(2UL, report.Skipped);
            Assert.Equal(6UL, report.Offered);
        }
    }

    [Fact]
    public void AChainBrokenByAFullQueue_StaysSkippedUntilTheSessionStartsAgain_AndSamplingTakesWholeSessions()
    {
        var streams = new ShadowStreams(StreamingDigits.Model.Spec.Graph!, candidateVersion: 2, sampleRate: 1, TimeProvider.System);
        Assert.Equal(ShadowSkip.None, streams.Admit(new SessionCall("a", Reset: true), () => ShadowSkip.None));
        Assert.Equal(ShadowSkip.None, streams.Admit(new SessionCall("a", Reset: false), () => ShadowSkip.None));
        Assert.Equal(ShadowSkip.Queue, streams.Admit(new SessionCall("a", Reset: false), () => ShadowSkip.Queue));
        Assert.Equal(ShadowSkip.State, streams.Admit(new SessionCall("a", Reset: false), () => throw new InvalidOperationException("a broken chain asks for no place")));
        Assert.Equal(ShadowSkip.None, streams.Admit(new SessionCall("a", Reset: true), () => ShadowSkip.None));

        var sampled = new ShadowStreams(StreamingDigits.Model.Spec.Graph!, candidateVersion: 2, sampleRate: 0.5, TimeProvider.System);
        var taken = 0;
        for (var s = 0; s < 200; s++)
        {
            var calls = Enumerable.Range(0, 4).Select(c => sampled.Admit(new SessionCall($"s{s}", Reset: c == 0), () => ShadowSkip.None)).Distinct().ToArray();
            Assert.Single(calls); // a whole session, or none of it
            taken += calls[0] == ShadowSkip.None ? 1 : 0;
        }

        Assert.InRange(taken, 60, 140); // half of 200 ± 5.6 standard deviations
    }

    [Fact]
    public void TheWorker_RunsEachCallFromTheCandidatesStateOfTheSession_AndRefusesACallWhoseStateItLost()
    {
        using var candidate = StreamingDigits.Load(StreamingDigits.OtherVersion());
        var own = StreamingDigits.Chains(candidate, 1);
        var streams = new ShadowStreams(StreamingDigits.Model.Spec.Graph!, candidateVersion: 2, sampleRate: 1, TimeProvider.System);
        Assert.Null(streams.Run(new SessionCall("s", Reset: false), own[1].Row, row => candidate.Predict(row, 1), b => b.States)); // never started here
        for (var call = 0; call < StreamingDigits.Calls; call++)
        {
            float[] servedRow = [.. StreamingDigits.Rows(0, call), .. Enumerable.Repeat(0.5f, 16)]; // the served version's state: not the candidate's
            var answer = streams.Run(new SessionCall("s", Reset: call == 0), servedRow, row => candidate.Predict(row, 1), b => b.States);
            Assert.NotNull(answer);
            Assert.All(own[call].Answer.Probabilities.Zip(answer.Probabilities), p => Assert.Equal(p.First, p.Second, 1e-6));
            Assert.Equal(0.5f, servedRow[16]); // the served row is left as it was
        }
    }
}
