using EdgeMlOps.Shared.Configuration;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>How the fleet authenticates its members. Section <c>Security</c> in configuration.</summary>
public sealed record SecurityOptions
{
    public const double DefaultDeviceCertificateDays = 30;

    public const double DefaultTlsHandshakeSeconds = 10;

    public const int DefaultMaxPendingTlsHandshakes = 2000;

    /// <summary>
    /// Development only: the embedded broker listens on plain TCP with no authentication at all, and
    /// the aggregator connects to a plain external broker without complaint. Logged as INSECURE.
    /// </summary>
    public bool AllowPlaintext { get; init; }

    /// <summary>
    /// The fleet enrollment token (a claim a batch of devices shares, as in AWS IoT fleet provisioning);
    /// null generates a random one into <c>{data}/pki/enrollment-token</c> on first start.
    /// </summary>
    public string? EnrollmentToken { get; init; }

    /// <summary>How long a device certificate is valid; devices renew after two thirds of it.</summary>
    public TimeSpan DeviceCertificateLifetime { get; init; } = TimeSpan.FromDays(DefaultDeviceCertificateDays);

    /// <summary>Host names and addresses devices use to reach the broker, put in its certificate besides localhost and this machine's name.</summary>
    public IReadOnlyList<string> BrokerHostNames { get; init; } = [];

    /// <summary>Messages per second a device may publish on average (<c>DeviceMessagesPerSecond</c>); beyond it and <see cref="DeviceMessageBurst"/> it is disconnected.</summary>
    public double DeviceMessagesPerSecond { get; init; } = 100;

    /// <summary>Messages a device may publish at once (an outbox draining after an outage).</summary>
    public double DeviceMessageBurst { get; init; } = 2000;

    /// <summary>
    /// How long the embedded broker waits for a connection to complete its TLS handshake before closing it (a client that
    /// opens sockets and never finishes would otherwise hold them); raise it for devices on very slow links (2G, NB-IoT).
    /// </summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(DefaultTlsHandshakeSeconds);

    /// <summary>
    /// Connections the embedded broker lets wait in their TLS handshake at once; one beyond it is closed at once and
    /// recorded. Connections that finished their handshake do not count. It keeps a flood of sockets that never finish
    /// (each held for <see cref="TlsHandshakeTimeout"/>) from taking the process's file descriptors, which its stores
    /// and the HTTPS API need too; a device refused retries with its backoff.
    /// </summary>
    public int MaxPendingTlsHandshakes { get; init; } = DefaultMaxPendingTlsHandshakes;

    /// <summary>
    /// Failed sign-ins (an unknown admin token, a wrong enrollment token or renewal proof) one network address may make
    /// in a minute before it is answered 429 for the rest of that minute (<see cref="SignInThrottle"/>); 0 turns it off.
    /// </summary>
    public int MaxFailedSignInsPerMinute { get; init; } = DefaultMaxFailedSignInsPerMinute;

    public const int DefaultMaxFailedSignInsPerMinute = 30;

    /// <summary>The ranges, for options however they were made (configuration, a test, the simulator): key and problem.</summary>
    public IEnumerable<(string Key, string Problem)> Problems()
    {
        if (!(DeviceMessagesPerSecond is >= 0.001 and <= 1e9)) yield return ("Security:DeviceMessagesPerSecond", $"{DeviceMessagesPerSecond} is not in [0.001, 1e9]");
        if (!(DeviceMessageBurst is >= 1 and <= 1e9)) yield return ("Security:DeviceMessageBurst", $"{DeviceMessageBurst} is not in [1, 1e9]");
        if (!(DeviceCertificateLifetime.TotalDays is >= 0.001 and <= 3650)) yield return ("Security:DeviceCertificateDays", $"{DeviceCertificateLifetime.TotalDays} is not in [0.001, 3650]");
        if (!(TlsHandshakeTimeout.TotalSeconds is >= 0.1 and <= 300)) yield return ("Security:TlsHandshakeSeconds", $"{TlsHandshakeTimeout.TotalSeconds} is not in [0.1, 300]");
        if (MaxPendingTlsHandshakes is < 1 or > 100_000) yield return ("Security:MaxPendingTlsHandshakes", $"{MaxPendingTlsHandshakes} is not in [1, 100000]");
        if (MaxFailedSignInsPerMinute is < 0 or > 1_000_000) yield return ("Security:MaxFailedSignInsPerMinute", $"{MaxFailedSignInsPerMinute} is not in [0, 1000000]");
    }

    /// <summary>Reads the section; the ranges are <see cref="Problems"/>, the same rules options built in code pass.</summary>
    public static SecurityOptions Read(ConfigReader r)
    {
        var defaults = new SecurityOptions();
        var options = new SecurityOptions
        {
            DeviceMessagesPerSecond = r.Double("Security:DeviceMessagesPerSecond", defaults.DeviceMessagesPerSecond),
            DeviceMessageBurst = r.Double("Security:DeviceMessageBurst", defaults.DeviceMessageBurst),
            AllowPlaintext = r.Bool("Security:AllowPlaintext", false),
            EnrollmentToken = r.OptionalString("Security:EnrollmentToken"),
            DeviceCertificateLifetime = TimeSpan.FromDays(r.Double("Security:DeviceCertificateDays", DefaultDeviceCertificateDays)),
            TlsHandshakeTimeout = TimeSpan.FromSeconds(r.Double("Security:TlsHandshakeSeconds", DefaultTlsHandshakeSeconds)),
            MaxPendingTlsHandshakes = r.Int("Security:MaxPendingTlsHandshakes", DefaultMaxPendingTlsHandshakes),
            MaxFailedSignInsPerMinute = r.Int("Security:MaxFailedSignInsPerMinute", DefaultMaxFailedSignInsPerMinute),
            BrokerHostNames = (r.OptionalString("Security:BrokerHostNames") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        };
        foreach (var (key, problem) in options.Problems()) r.Require(false, key, problem);
        return options;
    }
}
