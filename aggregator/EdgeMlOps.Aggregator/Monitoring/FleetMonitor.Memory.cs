using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>
/// What the monitor holds per version: the references drift tests need soon stay in memory, the others wait in the
/// registry until asked for (<see cref="ReferenceSource"/>), and a version the registry pruned is forgotten.
/// </summary>
public sealed partial class FleetMonitor
{
    /// <summary>Versions whose fleet-wide reference waits in the registry, read back when asked for.</summary>
    private readonly HashSet<ulong> _waiting = [];

    /// <summary>Reads a version's fleet-wide reference from the registry (the drift watch's); without it every reference stays in memory.</summary>
    public Func<ulong, WindowProfile?>? ReferenceSource { get; set; }

    /// <summary>Fleet-wide references held in memory now.</summary>
    public int HeldReferences
    {
        get
        {
            lock (_gate) return _references.Count;
        }
    }

    /// <summary>
    /// Keeps in memory only the references drift tests need soon — of the newest two versions (the head, from which
    /// the next version inherits, and its parent) and of every version with a window held (what devices serve) — and
    /// lets the others wait in the registry. A reference formed from production is not in the registry: it stays.
    /// For a model of 784 inputs each is 1 MB in memory, and the registry keeps 100 (<c>Registry:KeepVersions</c>).
    /// </summary>
    public void Unload()
    {
        if (ReferenceSource is null) return;
        lock (_gate)
        {
            var keep = _references.Keys.Concat(_waiting).OrderDescending().Take(2).Concat(_windows.Keys.Select(k => k.Version)).ToHashSet();
            foreach (var version in _references.Keys.Where(v => !keep.Contains(v) && !_fromProduction.Contains(v)).ToArray())
            {
                _references.Remove(version);
                _waiting.Add(version);
            }
        }
    }

    /// <summary>A version whose reference is in the registry but not read yet (at start: only the newest are).</summary>
    public void ReferenceWaits(ulong version)
    {
        lock (_gate)
        {
            if (!_references.ContainsKey(version)) _waiting.Add(version);
        }
    }

    /// <summary>
    /// Forgets everything held for <paramref name="versions"/> (references fleet-wide and per cohort, prediction
    /// references, and those still forming): versions the registry pruned, which the fleet no longer serves. Each was
    /// kept for ever — for a model of 784 inputs, most of a megabyte a version.
    /// </summary>
    public void Forget(IReadOnlyCollection<ulong> versions)
    {
        if (versions.Count == 0) return;
        var gone = versions.ToHashSet();
        lock (_gate)
        {
            foreach (var version in gone)
            {
                _references.Remove(version);
                _waiting.Remove(version);
                _fromProduction.Remove(version);
                _forming.Remove(version);
                _predictionReferences.Remove(version);
                _formingPredictions.Remove(version);
            }

            foreach (var key in _cohortReferences.Keys.Where(k => gone.Contains(k.Version)).ToArray()) _cohortReferences.Remove(key);
        }
    }

    /// <summary>
    /// The fleet-wide reference of <paramref name="version"/>, from memory or read back from the registry (under the
    /// gate); one the registry could not give now (unreachable) still waits, and is asked for again next time.
    /// </summary>
    private WindowProfile? HeldReference(ulong version)
    {
        if (_references.TryGetValue(version, out var held)) return held;
        if (!_waiting.Contains(version) || ReferenceSource?.Invoke(version) is not { } read) return null;
        _waiting.Remove(version);
        return _references[version] = read;
    }
}
