using System.Globalization;
using EdgeMlOps.Shared.Trust;

namespace EdgeMlOps.Aggregator.Trust;

/// <summary>
/// Issue times for the statements devices and gateways order by date — the revocation list, the catalogue of model
/// lines, rollout plans, freshness statements: each follows one only when it was issued after the one it holds. So the
/// times this clock gives strictly increase, within a millisecond (two devices revoked at once: the second list must
/// outrank the first) and across restarts on a clock set back (the last time given is kept in a file beside the keys):
/// the clock's reading, or one past the last time given when that is later — unless that is over an hour ahead of the
/// clock (<see cref="TrustVerifier.MaxIssuedAheadMs"/>): such times came from a clock that ran ahead, devices refuse
/// them, and going on from them would keep the fleet's statements refused until the clock caught up.
/// </summary>
public sealed class StatementClock
{
    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private long _last;

    /// <param name="path">Where the last time given is kept (the aggregator's <c>keys/issued</c>).</param>
    /// <param name="time">The clock read.</param>
    public StatementClock(string path, TimeProvider time)
    {
        (_path, _time) = (path, time);
        _last = File.Exists(path) && long.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kept) ? kept : 0;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (_last > now) Notice = _last - now <= TrustVerifier.MaxIssuedAheadMs
            ? $"the clock reads {Shared.Protocol.WireTime.Describe(now)}, before the last statement issued ({Shared.Protocol.WireTime.Describe(_last)}): statements go on from that time"
            : $"the clock reads {Shared.Protocol.WireTime.Describe(now)}, over an hour before the last statement issued ({Shared.Protocol.WireTime.Describe(_last)}): statements are stamped by the clock, and devices take them for old ones until it is set right (or it ran ahead before)";
    }

    /// <summary>Why the clock looked set back at start (it reads before the last time given), or null.</summary>
    public string? Notice { get; }

    /// <summary>The next issue time, in ms since 1970: later than every one given before that is at most an hour ahead of the clock.</summary>
    public long Next()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            _last = _last < now ? now : (Int128)_last + 1 - now > TrustVerifier.MaxIssuedAheadMs ? now : _last + 1;
            try
            {
                Runtime.Storage.AtomicFile.Write(_path, System.Text.Encoding.ASCII.GetBytes(_last.ToString(CultureInfo.InvariantCulture)), durable: false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A full or read-only disk: the statement still goes out, its time still above the last in this process.
            }

            return _last;
        }
    }
}
