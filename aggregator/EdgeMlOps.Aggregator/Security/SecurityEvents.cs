using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>What the fleet refused or changed for security reasons; each kind is counted and exported.</summary>
public enum SecurityEventKind
{
    ConnectionRefused,
    PublishDenied,
    SubscribeDenied,
    EnrollmentRefused,
    DeviceEnrolled,
    CertificateRenewed,
    DeviceRevoked,
    IdentityMismatch,
    ReplayDropped,
    RetainedRestored,
    SignInThrottled,
}

/// <summary>
/// Counts security events by kind, keeps them in the store for operators
/// (<c>GET /v1/admin/security/events</c>) and logs the first of each kind and subject, so that a
/// flood from one client costs one log line.
/// </summary>
public sealed partial class SecurityEvents(SecurityStore store, TimeProvider time, ILogger logger)
{
    private const int MaxLoggedSubjects = 10_000;

    private readonly long[] _counts = new long[Enum.GetValues<SecurityEventKind>().Length];
    private readonly ConcurrentDictionary<(SecurityEventKind, string), byte> _logged = new();

    public long Count(SecurityEventKind kind) => Interlocked.Read(ref _counts[(int)kind]);

    public IReadOnlyList<SecurityEvent> Recent(int limit) => store.RecentEvents(limit);

    public void Record(SecurityEventKind kind, string subject, string detail)
    {
        Interlocked.Increment(ref _counts[(int)kind]);
        store.AppendEvent(time.GetUtcNow(), kind, subject, detail);
        if (_logged.Count < MaxLoggedSubjects && _logged.TryAdd((kind, subject), 0)) LogEvent(kind, subject, detail);
    }

    [LoggerMessage(EventId = 2300, Level = LogLevel.Warning, Message = "Security: {Kind} for {Subject}: {Detail} (repeats are only counted)")]
    private partial void LogEvent(SecurityEventKind kind, string subject, string detail);
}
