using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Agent.Tests;

/// <summary>A loop's wait for a signal or its interval, on the system clock (no exception per timeout) and on a fake one.</summary>
public class SignalWaitTests
{
    public static TheoryData<bool> Clocks => new() { true, false };

    [Theory]
    [MemberData(nameof(Clocks))]
    public async Task ASignal_IsTaken_ATimeoutIsFalse_AndAStopThrows(bool systemClock)
    {
        var fake = new FakeTimeProvider();
        TimeProvider time = systemClock ? TimeProvider.System : fake;
        using var signal = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();

        signal.Release();
        Assert.True(await SignalWait.WaitAsync(signal, TimeSpan.FromSeconds(30), time, stop.Token));

        var timingOut = SignalWait.WaitAsync(signal, TimeSpan.FromMilliseconds(50), time, stop.Token);
        if (!systemClock) fake.Advance(TimeSpan.FromMilliseconds(50));
        Assert.False(await timingOut.WaitAsync(TimeSpan.FromSeconds(10)));
        signal.Release();
        Assert.True(await SignalWait.WaitAsync(signal, TimeSpan.FromSeconds(30), time, stop.Token)); // the timed-out wait took nothing

        var stopping = SignalWait.WaitAsync(signal, TimeSpan.FromSeconds(30), time, stop.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopping.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
