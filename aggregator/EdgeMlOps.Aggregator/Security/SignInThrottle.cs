using System.Collections.Concurrent;
using System.Net;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// Failed sign-ins counted per network address — an unknown admin token, an enrollment token that is no fleet's or
/// device's, a renewal its certificate does not prove — so that guessing costs time: past <c>perMinute</c> failures
/// within a minute, the address is answered 429 (with <c>Retry-After</c>) until that minute is out, even with a right
/// credential, which then tells a guesser nothing. Devices and operators that sign in correctly never fail; 0 turns it
/// off. At most <see cref="MaxAddresses"/> addresses are tracked: past that, addresses not yet seen share one window,
/// so a flood from many addresses is throttled together rather than growing the table.
/// </summary>
public sealed class SignInThrottle(int perMinute, TimeProvider time, Action<string>? throttled = null)
{
    public const int MaxAddresses = 10_000;

    private const string Others = "other addresses";
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, Window> _windows = new(StringComparer.Ordinal);

    /// <summary>Addresses tracked (at most <see cref="MaxAddresses"/>, and one window the others share).</summary>
    public int Tracked => _windows.Count;

    /// <summary>How long <paramref name="address"/> must wait before it may try again, or null when it may now.</summary>
    public TimeSpan? RetryAfter(IPAddress? address)
    {
        if (perMinute == 0 || !(_windows.TryGetValue(KeyOf(address), out var window) || _windows.TryGetValue(Others, out window))) return null;
        var now = time.GetUtcNow();
        lock (window)
        {
            return window.Failures >= perMinute && now - window.Start < Minute ? Minute - (now - window.Start) : null;
        }
    }

    /// <summary>Counts a failed sign-in from <paramref name="address"/>; the one that reaches the limit is reported (<c>throttled</c>).</summary>
    public void Failed(IPAddress? address)
    {
        if (perMinute == 0) return;
        var now = time.GetUtcNow();
        var key = KeyOf(address);
        if (!_windows.ContainsKey(key) && _windows.Count >= MaxAddresses)
        {
            foreach (var (stale, _) in _windows.Where(w => now - w.Value.Start >= Minute)) _windows.TryRemove(stale, out _);
            if (_windows.Count >= MaxAddresses) key = Others;
        }

        var window = _windows.GetOrAdd(key, _ => new Window { Start = now });
        bool reached;
        lock (window)
        {
            if (now - window.Start >= Minute) (window.Start, window.Failures) = (now, 0);
            reached = ++window.Failures == perMinute;
        }

        if (reached) throttled?.Invoke(key);
    }

    private static string KeyOf(IPAddress? address) =>
        address is null ? "unknown" : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    private sealed class Window
    {
        public DateTimeOffset Start { get; set; }

        public int Failures { get; set; }
    }
}
