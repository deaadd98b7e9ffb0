using EdgeMlOps.Agent.Presence;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Agent.Tests.Presence;

/// <summary>The status cadence on a fake clock: at the interval, and once soon after a burst of changes.</summary>
public sealed class PresenceReporterTests : IAsyncLifetime // xUnit v2 calls IAsyncLifetime.DisposeAsync, never IAsyncDisposable's
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000));
    private readonly InMemoryFleetHub _hub;
    private readonly IFleetChannel _device;
    private readonly IFleetChannel _listener;
    private readonly List<DeviceStatus> _received = new();
    private readonly CancellationTokenSource _stop = new();
    private int _snapshots;

    public PresenceReporterTests()
    {
        _hub = new InMemoryFleetHub(_time, InMemoryDelivery.Inline);
        _listener = _hub.Create(new FleetChannelOptions("aggregator"), NullLoggerFactory.Instance);
        _listener.MessageReceived = (_, payload) =>
        {
            lock (_received) _received.Add(DeviceStatus.Parser.ParseFrom(payload));
            return Task.CompletedTask;
        };
        _device = _hub.Create(new FleetChannelOptions("dev-1"), NullLoggerFactory.Instance);
    }

    private int Received
    {
        get { lock (_received) return _received.Count; }
    }

    private PresenceReporter Reporter() => new(_device, new Topics("f"), "dev-1", TimeSpan.FromMinutes(1), _time,
        state => new DeviceStatus { State = state, SampleCount = (ulong)Interlocked.Increment(ref _snapshots) }, NullLogger.Instance);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        _stop.Cancel();
        await _device.DisposeAsync();
        await _listener.DisposeAsync();
        _stop.Dispose();
    }

    private static async Task SettleAsync() => await Task.Delay(50);

    [Fact]
    public async Task AtTheInterval_OnTheInjectedClock_AndNotBefore()
    {
        await _listener.SubscribeAsync([new Topics("f").AllDevices("status")], CancellationToken.None);
        await _listener.ConnectAsync(CancellationToken.None);
        await _device.ConnectAsync(CancellationToken.None);
        var running = Reporter().RunAsync(_stop.Token);
        await SettleAsync();

        _time.Advance(TimeSpan.FromSeconds(59));
        await SettleAsync();
        Assert.Equal(0, Received);
        Assert.InRange(await AdvanceUntil(() => Received == 1), TimeSpan.Zero, TimeSpan.FromSeconds(2));
        Assert.InRange(await AdvanceUntil(() => Received == 2, TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(58), TimeSpan.FromSeconds(62));
        Assert.All(_received, s => Assert.Equal(DeviceState.Online, s.State));
        _stop.Cancel();
        await running;
    }

    [Fact]
    public async Task ABurstOfRequests_SendsOneStatus_ASecondLater()
    {
        await _listener.SubscribeAsync([new Topics("f").AllDevices("status")], CancellationToken.None);
        await _listener.ConnectAsync(CancellationToken.None);
        await _device.ConnectAsync(CancellationToken.None);
        var reporter = Reporter();
        var running = reporter.RunAsync(_stop.Token);
        await SettleAsync();

        for (var i = 0; i < 50; i++) reporter.Request(); // fifty labelled samples arriving at once
        await SettleAsync();
        Assert.Equal(0, Received);
        _time.Advance(TimeSpan.FromMilliseconds(900));
        await SettleAsync();
        Assert.Equal(0, Received);
        Assert.InRange(await AdvanceUntil(() => Received == 1), TimeSpan.Zero, TimeSpan.FromSeconds(1));
        await SettleAsync();
        Assert.Equal(1, Received);
        _stop.Cancel();
        await running;
    }

    /// <summary>
    /// Advances the fake clock in steps until <paramref name="condition"/> holds; returns the fake time it took. Steps
    /// (not one jump) because the loop under test may arm its next timer a moment after the previous one fired.
    /// </summary>
    private async Task<TimeSpan> AdvanceUntil(Func<bool> condition, TimeSpan? step = null)
    {
        var by = step ?? TimeSpan.FromMilliseconds(50);
        var elapsed = TimeSpan.Zero;
        while (!condition())
        {
            Assert.True(elapsed < TimeSpan.FromMinutes(5), "condition not reached within five fake minutes");
            _time.Advance(by);
            elapsed += by;
            await Task.Delay(5);
        }

        return elapsed;
    }
}
