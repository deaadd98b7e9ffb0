using EdgeMlOps.Agent.Shadow;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Tests.Shadow;

/// <summary>A shadow test alone: two real ONNX Runtime sessions, requests offered as the agent's request path offers them.</summary>
public sealed class ShadowSessionTests
{
    private static readonly ModelSpec Spec = new(6, [8], 3);
    private readonly SharedCache<InferenceModel> _cache = new();

    private static InferenceModel Model(int seed) => InferenceModel.Load(ClassifierGraphs.BuildInference(ModelWeights.Initialize(Spec, seed)).ToByteArray());

    private Task<SharedCache<InferenceModel>.Lease> LeaseAsync(int seed) => _cache.AcquireAsync($"seed{seed}", () => Task.FromResult(Model(seed)));

    private static float[][] Inputs(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, Spec.InputDim).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray()).ToArray();
    }

    private static ShadowPolicy Everything => new() { Share = 1, SampleRate = 1, MaxCpuShare = 1, MaxPending = 4096 };

    [Fact]
    public async Task TheSameModel_AgreesEverywhere_AtDistanceZero_AndEveryLabelledRequestIsPaired()
    {
        using var incumbent = Model(1);
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(1), Everything, memoryBytes: 0);
        await using (session)
        {
            var inputs = Inputs(300, 7);
            for (var i = 0; i < inputs.Length; i++)
            {
                var served = incumbent.Predict(inputs[i], 1);
                session.Offer($"p{i}", inputs[i], served.Labels[0], served.Probabilities, TimeSpan.FromMilliseconds(1));
                session.Outcome($"p{i}", i % 3); // ground truth at once: often before the candidate scored the request
            }

            await Eventually.Until(() => session.Report().Labelled == 300, "every labelled request paired");
            var report = session.Report();
            Assert.Equal(300UL, report.Offered);
            Assert.Equal(300UL, report.Scored);
            Assert.Equal(300UL, report.Agreed);
            Assert.True(report.DistanceMax < 1e-6, $"distance {report.DistanceMax}");
            Assert.Equal(report.IncumbentCorrect, report.CandidateCorrect);
            Assert.Equal(0UL, report.OnlyIncumbentCorrect + report.OnlyCandidateCorrect);
            Assert.Equal("r1", report.RolloutId);
            Assert.Equal(2UL, report.CandidateVersion);
        }
    }

    [Fact]
    public async Task AnotherModel_IsComparedRequestByRequest_AsRunningBothDirectlySays()
    {
        using var incumbent = Model(1);
        using var candidate = Model(2);
        var inputs = Inputs(400, 11);
        var labels = inputs.Select((_, i) => (long)(i % 3)).ToArray();
        ulong agreed = 0, onlyIncumbent = 0, onlyCandidate = 0, candidateCorrect = 0;
        double distance = 0;
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(2), Everything, memoryBytes: 123);
        await using (session)
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                var served = incumbent.Predict(inputs[i], 1);
                var expected = candidate.Predict(inputs[i], 1);
                agreed += served.Labels[0] == expected.Labels[0] ? 1UL : 0;
                distance += ShadowStats.TotalVariation(served.Probabilities, expected.Probabilities);
                var (a, b) = (served.Labels[0] == labels[i], expected.Labels[0] == labels[i]);
                onlyIncumbent += a && !b ? 1UL : 0;
                onlyCandidate += b && !a ? 1UL : 0;
                candidateCorrect += b ? 1UL : 0;
                session.Offer($"p{i}", inputs[i], served.Labels[0], served.Probabilities, TimeSpan.FromMilliseconds(1));
            }

            await Eventually.Until(() => session.Report().Scored == 400, "every request scored");
            for (var i = 0; i < inputs.Length; i++) session.Outcome($"p{i}", labels[i]); // ground truth after scoring
            var report = session.Report();
            Assert.InRange(agreed, 1UL, 399UL); // the two models really differ on these inputs
            Assert.Equal(agreed, report.Agreed);
            Assert.Equal(distance, report.DistanceSum, 1e-4);
            Assert.Equal(400UL, report.Labelled);
            Assert.Equal(onlyIncumbent, report.OnlyIncumbentCorrect);
            Assert.Equal(onlyCandidate, report.OnlyCandidateCorrect);
            Assert.Equal(candidateCorrect, report.CandidateCorrect);
            Assert.Equal(123UL, report.CandidateMemoryBytes);
            Assert.True(report.CandidateLatencyP95Ms > 0);
        }
    }

    [Fact]
    public async Task SamplingSkipsItsShare_AndUnknownOrLateTruthIsIgnored()
    {
        using var incumbent = Model(1);
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(1), new ShadowPolicy { Share = 1, SampleRate = 0.25, MaxCpuShare = 1, MaxPending = 4096 }, memoryBytes: 0);
        await using (session)
        {
            var inputs = Inputs(2000, 3);
            foreach (var (x, i) in inputs.Select((x, i) => (x, i)))
            {
                var served = incumbent.Predict(x, 1);
                session.Offer($"p{i}", x, served.Labels[0], served.Probabilities, TimeSpan.Zero);
            }

            session.Outcome("never-offered", 1);
            var report = session.Report();
            Assert.Equal(2000UL, report.Offered);
            Assert.InRange(report.SkippedSample, 1350UL, 1650UL); // 75% ± 7.5 standard deviations
            await Eventually.Until(() => session.Report().Scored == 2000 - report.SkippedSample, "the sampled requests scored");
            Assert.Equal(0UL, session.Report().Labelled);
        }
    }

    [Fact]
    public async Task EndingTheSession_ReleasesBothSessions()
    {
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(5), Everything, memoryBytes: 0, incumbentSession: await LeaseAsync(6));
        Assert.Equal(2, _cache.Count);
        await session.DisposeAsync();
        Assert.Equal(0, _cache.Count);
    }

    [Fact]
    public async Task WithTheIncumbentsSession_BothAreTimedOnTheWorker_NotTheRequestPathsFigure()
    {
        using var incumbent = Model(1);
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(2), Everything, memoryBytes: 0, incumbentSession: await LeaseAsync(1));
        await using (session)
        {
            foreach (var (x, i) in Inputs(50, 5).Select((x, i) => (x, i)))
            {
                var served = incumbent.Predict(x, 1);
                session.Offer($"p{i}", x, served.Labels[0], served.Probabilities, TimeSpan.FromSeconds(1)); // a request path under heavy load
            }

            await Eventually.Until(() => session.Report().Scored == 50, "every request scored");
            var p95 = session.Report().IncumbentLatencyP95Ms;
            Assert.True(p95 is > 0 and < 500, $"incumbent p95 {p95} ms timed on the worker, not the request path's 1 s");
        }
    }

    [Fact]
    public async Task AFullQueue_SkipsAndCounts_TheRequestPathNeverWaits()
    {
        using var incumbent = Model(1);
        var session = new ShadowSession("r1", 1, 2, await LeaseAsync(2), new ShadowPolicy { Share = 1, SampleRate = 1, MaxCpuShare = 1, MaxPending = 2 }, memoryBytes: 0);
        await using (session)
        {
            var x = Inputs(1, 9)[0];
            var served = incumbent.Predict(x, 1);
            for (var i = 0; i < 1000; i++) session.Offer($"p{i}", x, served.Labels[0], served.Probabilities, TimeSpan.Zero); // far faster than one poll
            await Eventually.Until(() => session.Report() is var r && r.Scored + r.SkippedQueue == 1000, "every request scored or skipped");
            var report = session.Report();
            Assert.True(report.SkippedQueue > 0, $"{report}");
            Assert.True(report.Scored >= 2, $"{report}");
        }
    }

    [Fact]
    public void TheBudget_StopsScoringOnceTheTimeSpentExceedsItsShare()
    {
        var budget = new ShadowBudget(0.1);
        Assert.True(budget.Allows());
        budget.Spent(TimeSpan.FromSeconds(1)); // far beyond 10% of the few milliseconds since it began
        Assert.False(budget.Allows());
        Assert.True(new ShadowBudget(1.0) is var unlimited && unlimited.Allows());
    }

    [Fact]
    public async Task TheScorer_OffersOnlyRequestsOfTheIncumbentVersion_AndKeepsTheLastReport()
    {
        await using var scorer = new ShadowScorer();
        using var incumbent = Model(1);
        Assert.Null(scorer.Report());
        await scorer.BeginAsync(new ShadowSession("r1", 1, 2, await LeaseAsync(2), Everything, 0));
        Assert.True(scorer.Runs("r1", 2));
        var x = Inputs(1, 1)[0];
        var served = incumbent.Predict(x, 1);
        scorer.Offer(1, "a", x, served.Labels[0], served.Probabilities, TimeSpan.Zero);
        scorer.Offer(7, "b", x, served.Labels[0], served.Probabilities, TimeSpan.Zero); // served by another version: not comparable
        await Eventually.Until(() => scorer.Report()!.Scored == 1, "the comparable request scored");
        await scorer.EndAsync();
        Assert.False(scorer.Runs("r1", 2));
        Assert.Equal(1UL, scorer.Report()!.Offered);
        Assert.Equal(0, _cache.Count);
    }

    [Fact]
    public async Task ARegressorCandidate_IsComparedOnValues_AndBothSquaredErrorsArePairedWithTheTargets()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_diabetes_regressor.onnx"));
        var spec = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = true }).Spec;
        using var incumbent = InferenceModel.Load(bytes, spec);
        var shifted = ClassifierGraphs.Parse(bytes); // the candidate: every value 0.5 higher
        var bias = shifted.Graph.Initializer.Single(t => t.Name == "head.bias");
        if (bias.RawData.IsEmpty) bias.FloatData[0] += 0.5f;
        else bias.RawData = ByteString.CopyFrom(BitConverter.GetBytes(BitConverter.ToSingle(bias.RawData.Span) + 0.5f));
        var lease = await _cache.AcquireAsync("shifted", () => Task.FromResult(InferenceModel.Load(shifted.ToByteArray(), spec)));
        var session = new ShadowSession("r1", 1, 2, lease, Everything, memoryBytes: 0);
        await using (session)
        {
            var inputs = Enumerable.Range(0, 50).Select(i => Enumerable.Range(0, 10).Select(j => (float)Math.Sin(i + (j * 0.7)) / 10).ToArray()).ToArray();
            double mine = 0, theirs = 0;
            for (var i = 0; i < inputs.Length; i++)
            {
                var served = incumbent.PredictValues(inputs[i], 1).Values;
                var target = new[] { served[0] + 0.2f }; // the truth sits 0.2 above the incumbent: error 0.04 against 0.09
                session.Offer($"p{i}", inputs[i], -1, served, TimeSpan.FromMilliseconds(1));
                if (i % 2 == 0) session.OutcomeTarget($"p{i}", target); // half the targets arrive at once, half later
                (mine, theirs) = (mine + 0.04, theirs + 0.09);
            }

            await Eventually.Until(() => session.Report().Scored == 50, "every request scored");
            for (var i = 1; i < inputs.Length; i += 2) session.OutcomeTarget($"p{i}", [incumbent.PredictValues(inputs[i], 1).Values[0] + 0.2f]);
            var report = session.Report();
            Assert.Equal((50UL, 50UL, 0UL), (report.Labelled, report.Scored, report.Agreed));
            Assert.Equal(0.5, report.ValueDifferenceSum / 50, 4);
            Assert.Equal(mine, report.IncumbentSquaredErrorSum, 3);
            Assert.Equal(theirs, report.CandidateSquaredErrorSum, 3);
            Assert.Equal(50 * 0.05 * 0.05, report.SquaredErrorDifferenceSquares, 3);
            session.OutcomeTarget("p0", [1f]); // paired once: a second target changes nothing
            Assert.Equal(50UL, session.Report().Labelled);
        }
    }

    /// <summary>
    /// A per-pixel classifier's candidate (PyTorch's segmenter with its background class pushed up until it calls every
    /// pixel background) is compared on the share of pixels the two class differently, and each version's error on the
    /// truth is its share of pixels wrong — not a squared difference of class ids.
    /// </summary>
    [Fact]
    public async Task APerPositionCandidate_IsComparedOnPixelsClassedDifferently_AndItsErrorIsTheShareOfPixelsWrong()
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "pytorch_digit_segmenter.onnx"));
        var spec = UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { PerPosition = true }).Spec;
        using var incumbent = InferenceModel.Load(bytes, spec);
        var background = ClassifierGraphs.Parse(bytes);
        var bias = background.Graph.Initializer.Single(t => t.Name == "head.bias");
        if (bias.RawData.IsEmpty) bias.FloatData[0] += 1000f;
        else bias.RawData = ByteString.CopyFrom([.. BitConverter.GetBytes(BitConverter.ToSingle(bias.RawData.Span) + 1000f), .. bias.RawData.Span[4..]]);
        var lease = await _cache.AcquireAsync("background", () => Task.FromResult(InferenceModel.Load(background.ToByteArray(), spec)));
        using var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "digit_segmenter_expected.json")));
        var pixels = expected.RootElement.GetProperty("pixels").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var session = new ShadowSession("r1", 1, 2, lease, Everything, memoryBytes: 0);
        await using (session)
        {
            var ink = 0.0;
            for (var i = 0; i < 6; i++)
            {
                var scan = pixels.AsSpan(i * 64, 64).ToArray();
                var served = incumbent.PredictValues(scan, 1).Values;
                ink += served.Count(id => id != 0) / 64.0; // what the candidate (all background) classes differently
                session.Offer($"p{i}", scan, -1, served, TimeSpan.FromMilliseconds(1));
                session.OutcomeTarget($"p{i}", served); // the truth is what the incumbent said: its error is 0
            }

            await Eventually.Until(() => session.Report().Labelled == 6, "every request scored and paired");
            var report = session.Report();
            Assert.True(ink > 0.5, $"the scans have ink the incumbent labels ({ink:F3} of six scans' pixels)");
            Assert.Equal(ink, report.ValueDifferenceSum, 9);
            Assert.Equal((0.0, ink), (report.IncumbentSquaredErrorSum, report.CandidateSquaredErrorSum));
        }
    }
}
