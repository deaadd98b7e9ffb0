namespace EdgeMlOps.Aggregator.Registry;

/// <summary>
/// The registry's reference profiles: each version's training sketches, fleet-wide and per cohort (drift references),
/// and its first production outputs (prediction drift).
/// </summary>
public sealed partial class ModelRegistry
{
    /// <summary>A version's reference profile (serialized <c>ProfileReport</c> of its training data's sketches).</summary>
    public void SaveReference(string model, ulong version, byte[] profile) => SaveVersionProfile("reference_profiles", model, version, profile);

    public IReadOnlyList<(ulong Version, byte[] Profile)> References(string model) => VersionProfiles("reference_profiles", model);

    /// <summary>The versions that have a reference profile, oldest first (without reading the profiles).</summary>
    public IReadOnlyList<ulong> ReferenceVersions(string model) =>
        _db.Run(s => s.Query("SELECT version FROM reference_profiles WHERE model = @m ORDER BY version", r => (ulong)r.GetInt64(0), ("@m", model)));

    /// <summary>One version's reference profile, or null.</summary>
    public byte[]? Reference(string model, ulong version) =>
        _db.Run(s => s.Scalar("SELECT profile FROM reference_profiles WHERE model = @m AND version = @v", ("@m", model), ("@v", (long)version))) as byte[];

    /// <summary>A cohort's reference profile for a version (the training sketches of that cohort's devices).</summary>
    public void SaveCohortReference(string model, ulong version, string cohort, byte[] profile)
    {
        _db.Run(s =>
        {
            s.Execute(
                "INSERT INTO cohort_reference_profiles(model, version, cohort, profile) VALUES (@m, @v, @c, @p) ON CONFLICT(model, version, cohort) DO UPDATE SET profile = excluded.profile",
                ("@m", model), ("@v", (long)version), ("@c", cohort), ("@p", profile));
        });
    }

    public IReadOnlyList<(ulong Version, string Cohort, byte[] Profile)> CohortReferences(string model)
    {
        return _db.Run(s => s.Query("SELECT version, cohort, profile FROM cohort_reference_profiles WHERE model = @m ORDER BY version, cohort",
            r => ((ulong)r.GetInt64(0), r.GetString(1), (byte[])r.GetValue(2)), ("@m", model)));
    }

    /// <summary>A version's prediction reference (serialized <c>ProfileReport</c> of its first fleet-wide windows): kept, so a restart does not form it again.</summary>
    public void SavePredictionReference(string model, ulong version, byte[] profile) => SaveVersionProfile("prediction_reference_profiles", model, version, profile);

    public IReadOnlyList<(ulong Version, byte[] Profile)> PredictionReferences(string model) => VersionProfiles("prediction_reference_profiles", model);

    /// <summary>
    /// Deletes every profile (drift references, fleet-wide and per cohort, and prediction references) of the versions
    /// whose artifacts were pruned — those pruned before this was done too — under the registry's <see cref="Fence"/>;
    /// returns the versions that had any, oldest first. A pruned version is served by no one the fleet follows.
    /// </summary>
    public IReadOnlyList<ulong> DeletePrunedProfiles(string model)
    {
        var fence = Fence;
        return _db.Run(s => s.InTransaction(() =>
        {
            fence?.AssertHeld(s, $"deleting the reference profiles of {model}'s pruned versions");
            var versions = new SortedSet<ulong>();
            foreach (var table in ProfileTables)
            {
                var pruned = $"FROM {table} WHERE model = @m AND version IN (SELECT version FROM versions WHERE model = @m AND pruned_ms IS NOT NULL)";
                versions.UnionWith(s.Query($"SELECT DISTINCT version {pruned}", r => (ulong)r.GetInt64(0), ("@m", model)));
                s.Execute($"DELETE {pruned}", ("@m", model));
            }

            return (IReadOnlyList<ulong>)[.. versions];
        }));
    }

    private static readonly string[] ProfileTables = ["reference_profiles", "cohort_reference_profiles", "prediction_reference_profiles"];

    /// <summary>Keeps (or replaces) a version's profile in <paramref name="table"/> (one of this file's tables, never user input).</summary>
    private void SaveVersionProfile(string table, string model, ulong version, byte[] profile) =>
        _db.Run(s => s.Execute(
            $"INSERT INTO {table}(model, version, profile) VALUES (@m, @v, @p) ON CONFLICT(model, version) DO UPDATE SET profile = excluded.profile",
            ("@m", model), ("@v", (long)version), ("@p", profile)));

    private IReadOnlyList<(ulong Version, byte[] Profile)> VersionProfiles(string table, string model) =>
        _db.Run(s => s.Query($"SELECT version, profile FROM {table} WHERE model = @m ORDER BY version", r => ((ulong)r.GetInt64(0), (byte[])r.GetValue(1)), ("@m", model)));
}
