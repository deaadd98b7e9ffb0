namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>The monitor's side of registry retention: what it holds per version goes when the version is pruned.</summary>
public sealed partial class FleetMonitor
{
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
                _fromProduction.Remove(version);
                _forming.Remove(version);
                _predictionReferences.Remove(version);
                _formingPredictions.Remove(version);
            }

            foreach (var key in _cohortReferences.Keys.Where(k => gone.Contains(k.Version)).ToArray()) _cohortReferences.Remove(key);
        }
    }
}
