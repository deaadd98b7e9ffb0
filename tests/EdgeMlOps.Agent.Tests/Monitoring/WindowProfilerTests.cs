using EdgeMlOps.Agent.Messaging;
using EdgeMlOps.Agent.Monitoring;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Agent.Tests.Monitoring;

/// <summary>The window profiler alone, on a fake clock: what a window reports, when, and what a quiet window does.</summary>
public sealed class WindowProfilerTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
    private readonly List<ProfileReport> _sent = new();
    private readonly CancellationTokenSource _stop = new();

    private static readonly ModelAnnouncement V3 = new() { ModelName = "m", Version = 3, Architecture = new ModelArchitecture { InputDim = 2, Classes = 2 } };

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private int Sent
    {
        get { lock (_sent) return _sent.Count; }
    }

    private WindowProfiler Profiler(int minRows) => new(
        new AgentOptions { DeviceId = "dev-1", ProfileWindow = TimeSpan.FromMinutes(5), SketchPolicy = new SketchPolicy(MinRows: minRows, MinLevel: 0) },
        _time, new MessageHeaders("f", "dev-1", 1, _time), report =>
        {
            lock (_sent) _sent.Add(report);
        });

    [Fact]
    public async Task AWindow_IsSentWhenItEnds_WithExactCountsAndTheVersionItProfiled()
    {
        var profiler = Profiler(minRows: 0);
        var running = profiler.RunAsync(_stop.Token);
        for (var i = 0; i < 10; i++) profiler.AddPrediction(V3, [i, 1f], label: i % 2, confidence: 0.9f, TimeSpan.FromMilliseconds(2));
        profiler.AddOutcome(3, actual: 1, predicted: 1, [1f, 1f]);

        Assert.InRange(await AdvanceUntil(() => Sent == 1), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(2));
        var report = _sent[0];
        Assert.Equal((3UL, 10UL), (report.ModelVersion, report.Predictions));
        Assert.Equal([5UL, 5UL], report.PredictedClasses);
        Assert.Equal(1UL, report.Confusion[3]); // true 1, predicted 1
        Assert.Equal(TimeSpan.FromMinutes(5), TimeSpan.FromMilliseconds(report.WindowEndUnixMs - report.WindowStartUnixMs));
        Assert.Equal(1, profiler.Published);
        _stop.Cancel();
        await running;
    }

    [Fact]
    public async Task AQuietWindowUnderTheRowFloor_IsCarriedOver_NotSentWithFewRows()
    {
        var profiler = Profiler(minRows: 20);
        var running = profiler.RunAsync(_stop.Token);
        for (var i = 0; i < 5; i++) profiler.AddPrediction(V3, [i, 1f], 0, 0.9f, TimeSpan.FromMilliseconds(1));
        await AdvanceUntil(() => false, limit: TimeSpan.FromMinutes(11));
        Assert.Equal(0, Sent); // two windows passed, still five rows: kept on the device

        for (var i = 0; i < 20; i++) profiler.AddPrediction(V3, [i, 2f], 1, 0.8f, TimeSpan.FromMilliseconds(1));
        await AdvanceUntil(() => Sent == 1);
        Assert.Equal(25UL, _sent[0].Predictions);
        Assert.NotEmpty(_sent[0].Features);
        _stop.Cancel();
        await running;
    }

    [Fact]
    public void ANewVersion_ClosesTheWindowOfTheOldOne()
    {
        var profiler = Profiler(minRows: 0);
        profiler.AddPrediction(V3, [1f, 1f], 0, 0.9f, TimeSpan.FromMilliseconds(1));
        profiler.AddPrediction(new ModelAnnouncement(V3) { Version = 4 }, [1f, 1f], 0, 0.9f, TimeSpan.FromMilliseconds(1));
        Assert.Equal(3UL, Assert.Single(_sent).ModelVersion);
        profiler.Flush();
        Assert.Equal(4UL, _sent[1].ModelVersion);
    }

    /// <summary>Advances the fake clock in steps until <paramref name="condition"/> holds (or <paramref name="limit"/> of fake time passed); returns the fake time taken.</summary>
    private async Task<TimeSpan> AdvanceUntil(Func<bool> condition, TimeSpan? limit = null)
    {
        var elapsed = TimeSpan.Zero;
        var max = limit ?? TimeSpan.FromHours(1);
        while (!condition() && elapsed < max)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            elapsed += TimeSpan.FromSeconds(1);
            await Task.Delay(1);
        }

        Assert.True(limit is not null || condition(), "condition not reached");
        return elapsed;
    }
}
