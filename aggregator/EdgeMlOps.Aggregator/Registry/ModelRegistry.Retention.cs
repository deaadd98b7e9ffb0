namespace EdgeMlOps.Aggregator.Registry;

/// <summary>The registry's side of artifact retention (<see cref="ArtifactRetention"/>): which rows still have files, and marking those that no longer do.</summary>
public sealed partial class ModelRegistry
{
    /// <summary>The versions whose artifacts are kept (never pruned), oldest first.</summary>
    public IReadOnlyList<ModelVersionRecord> KeptVersions(string model) => Versions(model, "AND v.pruned_ms IS NULL ORDER BY v.version");

    /// <summary>The newest version in <paramref name="state"/>, or null (one row read, however many versions there are).</summary>
    public ModelVersionRecord? LatestIn(string model, string state) =>
        Versions(model, "AND COALESCE(s.state, 'deployed') = @state ORDER BY v.version DESC LIMIT 1", ("@state", state)).FirstOrDefault();

    /// <summary>
    /// Marks the artifacts of <paramref name="versions"/> pruned at <paramref name="at"/>, in one transaction under the
    /// registry's <see cref="Fence"/> (a leader replaced meanwhile marks nothing); a version already marked keeps its time.
    /// </summary>
    public void MarkPruned(string model, IReadOnlyCollection<ulong> versions, DateTimeOffset at)
    {
        var fence = Fence;
        _db.Run(s => s.InTransaction(() =>
        {
            fence?.AssertHeld(s, $"pruning {versions.Count} versions of {model}");
            foreach (var version in versions)
            {
                s.Execute("UPDATE versions SET pruned_ms = @t WHERE model = @m AND version = @v AND pruned_ms IS NULL",
                    ("@t", at.ToUnixTimeMilliseconds()), ("@m", model), ("@v", (long)version));
            }
        }));
    }
}
