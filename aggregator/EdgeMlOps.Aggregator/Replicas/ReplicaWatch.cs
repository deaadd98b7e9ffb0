using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Replicas;

/// <summary>
/// The coordinator's watch for replicas that are connected but starved: a replica whose broker denies it the update
/// topics still gets its turn of the shared subscription, and Debian's Mosquitto 2.0.11 then drops the updates it hands
/// it without a word (docs/SCALING.md) — rounds fall short and wait for their deadline while nothing says why. After
/// each round the coordinator tells this which replicas said they were connected, which wrote a share, how many
/// updates it took itself and whether the round fell short; a replica that wrote none in a round that fell short while
/// the coordinator took at least one update per member (a shared subscription hands each member its turn) is silent
/// for that round. <see cref="SilentRoundsToWarn"/> such rounds in a row raise a warning; a share clears it.
/// </summary>
public sealed class ReplicaWatch(string? coordinator, ILogger logger)
{
    /// <summary>Rounds in a row a replica must be silent in before it is reported (one can be chance: it joined late).</summary>
    public const int SilentRoundsToWarn = 2;

    /// <summary>How often a replica records that it is connected; it counts as connected for three of these.</summary>
    public static readonly TimeSpan PresenceInterval = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, int> _silent = new(StringComparer.Ordinal);

    /// <summary>Each connected replica's silent rounds in a row (0: it took its share in the last round that showed).</summary>
    public IReadOnlyDictionary<string, int> SilentRounds
    {
        get
        {
            lock (_silent) return new Dictionary<string, int>(_silent, StringComparer.Ordinal);
        }
    }

    /// <summary>The replicas reported as starved now, by name.</summary>
    public IReadOnlyList<string> Starved
    {
        get
        {
            lock (_silent) return [.. _silent.Where(s => s.Value >= SilentRoundsToWarn).Select(s => s.Key).Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>
    /// Round <paramref name="roundId"/> closed: <paramref name="connected"/> replicas said they were connected,
    /// <paramref name="sharing"/> wrote a share, the coordinator took <paramref name="own"/> updates itself, and the round
    /// <paramref name="fellShort"/> of its target or not.
    /// </summary>
    public void Observe(string roundId, IReadOnlyCollection<string> connected, IReadOnlySet<string> sharing, long own, bool fellShort)
    {
        var members = connected.Where(r => r != coordinator).ToHashSet(StringComparer.Ordinal);
        var evidence = fellShort && own >= members.Count + 1;
        lock (_silent)
        {
            foreach (var gone in _silent.Keys.Where(r => !members.Contains(r)).ToList()) _silent.Remove(gone); // not connected: not starved, gone
            foreach (var replica in members)
            {
                var before = _silent.GetValueOrDefault(replica);
                if (sharing.Contains(replica))
                {
                    _silent[replica] = 0;
                    if (before >= SilentRoundsToWarn) logger.LogReplicaSharesAgain(replica, roundId);
                }
                else if (evidence)
                {
                    _silent[replica] = before + 1;
                    if (before + 1 == SilentRoundsToWarn) logger.LogReplicaStarved(replica, before + 1, roundId, own);
                }
                else
                {
                    _silent.TryAdd(replica, 0);
                }
            }
        }
    }
}
