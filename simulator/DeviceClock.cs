namespace EdgeMlOps.Simulator;

/// <summary>
/// The simulated devices' wall clock: the system clock, except while a scenario holds it at an
/// instant. The drift scenario holds it at the start of a reporting window while that window's
/// traffic is served, so every device stamps its profile with that window however long a busy
/// host takes to push a hundred devices' traffic through. Timers and delays keep running on the
/// system clock; only the time of day the agents read stands still.
/// </summary>
public sealed class DeviceClock : TimeProvider
{
    private const long Released = long.MinValue;
    private long _heldAtUnixMs = Released;

    /// <summary>From now on, devices read <paramref name="at"/> as the time until <see cref="Release"/>.</summary>
    public void Hold(DateTimeOffset at) => Interlocked.Exchange(ref _heldAtUnixMs, at.ToUnixTimeMilliseconds());

    /// <summary>Devices read the system clock again.</summary>
    public void Release() => Interlocked.Exchange(ref _heldAtUnixMs, Released);

    public override DateTimeOffset GetUtcNow()
    {
        var held = Interlocked.Read(ref _heldAtUnixMs);
        return held == Released ? System.GetUtcNow() : DateTimeOffset.FromUnixTimeMilliseconds(held);
    }
}
