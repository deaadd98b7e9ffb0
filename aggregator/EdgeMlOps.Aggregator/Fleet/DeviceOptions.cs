using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>How long the aggregator remembers devices it no longer hears from (<c>Aggregator:Devices:*</c>; docs/OPERATIONS.md, "What the aggregator keeps").</summary>
public sealed class DeviceOptions
{
    /// <summary>The default <see cref="ForgetAfter"/>, in days: as long as message ids are remembered (<see cref="SeenMessages.Retention"/>).</summary>
    public const double DefaultForgetAfterDays = 7;

    /// <summary>
    /// A device that is not online (offline, lost, or silent past three of its status intervals) and has not been heard
    /// from for this long is forgotten, and its retained status cleared on the broker (<see cref="SilentDevices"/>).
    /// Zero remembers every device until the process stops.
    /// </summary>
    public TimeSpan ForgetAfter { get; init; } = TimeSpan.FromDays(DefaultForgetAfterDays);

    /// <summary>How often to look for such devices: a tenth of <see cref="ForgetAfter"/>, between a second and an hour.</summary>
    public TimeSpan SweepEvery => TimeSpan.FromTicks(Math.Clamp(ForgetAfter.Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour));

    public IEnumerable<(string Key, string Problem)> Problems()
    {
        if (ForgetAfter < TimeSpan.Zero) yield return ("Devices:ForgetAfterDays", $"must be 0 (remember every device) or a number of days, not {ForgetAfter.TotalDays:0.###}");
    }

    public static DeviceOptions Read(ConfigReader r) =>
        new() { ForgetAfter = TimeSpan.FromDays(r.Double("Devices:ForgetAfterDays", DefaultForgetAfterDays, 0, 36_500)) };
}
