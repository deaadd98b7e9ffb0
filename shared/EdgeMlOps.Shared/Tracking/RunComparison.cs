using System.Globalization;

namespace EdgeMlOps.Shared.Tracking;

/// <summary>A parameter that differs between two runs (null: not set in that run).</summary>
public sealed record ParameterDifference(string Key, string? First, string? Second);

/// <summary>
/// What a re-run produced against its record: bit-identical versions up to the one asked for, or the first round and
/// tensor that differ, with what differed around them that explains it.
/// </summary>
public sealed record ReproductionOutcome(bool Identical, int VersionsCompared, long? Round, ulong? Version, string? Tensor, IReadOnlyList<string> Reasons)
{
    public string Summary => Identical
        ? string.Create(CultureInfo.InvariantCulture, $"bit-identical: {VersionsCompared} versions, every tensor")
        : Round is null
            ? "not reproduced: " + string.Join("; ", Reasons)
            : string.Create(CultureInfo.InvariantCulture, $"differs from round {Round} (v{Version}), first tensor {Tensor}; why: {string.Join("; ", Reasons)}");
}

/// <summary>Compares runs: their parameters, and the versions a re-run made with those of the record.</summary>
public static class RunComparison
{
    public static IReadOnlyList<ParameterDifference> Parameters(RunRecord first, RunRecord second) =>
        first.Parameters.Keys.Union(second.Parameters.Keys).Order(StringComparer.Ordinal)
            .Select(k => new ParameterDifference(k, first.Parameters.GetValueOrDefault(k), second.Parameters.GetValueOrDefault(k)))
            .Where(d => d.First != d.Second)
            .ToArray();

    /// <summary>Compares, round by round, the versions <paramref name="again"/> made with those <paramref name="original"/> recorded, up to <paramref name="version"/>.</summary>
    public static ReproductionOutcome Reproduction(RunRecord original, RunRecord again, ulong version)
    {
        var target = original.Versions.FirstOrDefault(v => v.Version == version && v.Round > 0);
        if (target is null) return new ReproductionOutcome(false, 0, null, null, null, [$"the record has no version {version} made by a round"]);
        var compared = 0;
        foreach (var recorded in original.Versions.Where(v => v.Round > 0 && v.Round <= target.Round).OrderBy(v => v.Round))
        {
            var made = again.Versions.FirstOrDefault(v => v.Round == recorded.Round);
            if (made is null) return Differs(original, again, recorded, "(no version)", [$"round {recorded.Round} made no version in the re-run"]);
            foreach (var (name, hash) in recorded.Tensors)
            {
                if (made.Tensors.GetValueOrDefault(name) != hash) return Differs(original, again, recorded, name, Reasons(original, again, recorded.Round));
            }

            compared++;
        }

        return new ReproductionOutcome(true, compared, null, null, null, []);
    }

    private static ReproductionOutcome Differs(RunRecord original, RunRecord again, VersionFingerprint at, string tensor, IReadOnlyList<string> reasons) =>
        new(false, 0, at.Round, at.Version, tensor, reasons.Count > 0 ? reasons : Reasons(original, again, at.Round));

    /// <summary>Everything that differs between the runs up to <paramref name="round"/>, most telling first.</summary>
    public static IReadOnlyList<string> Reasons(RunRecord original, RunRecord again, long round)
    {
        var reasons = new List<string>();
        if (original.Data.Fingerprint != again.Data.Fingerprint) reasons.Add($"the training data differ (fingerprint {Short(original.Data.Fingerprint)} → {Short(again.Data.Fingerprint)})");
        foreach (var r in original.Rounds.Where(r => r.Round <= round))
        {
            var other = again.Rounds.FirstOrDefault(x => x.Round == r.Round);
            if (other is null) continue;
            var missing = r.Contributions.Keys.Except(other.Contributions.Keys).Order(StringComparer.Ordinal).ToArray();
            var extra = other.Contributions.Keys.Except(r.Contributions.Keys).Order(StringComparer.Ordinal).ToArray();
            if (missing.Length + extra.Length > 0)
            {
                reasons.Add(string.Create(CultureInfo.InvariantCulture, $"round {r.Round} had other contributors (missing {Names(missing)}; new {Names(extra)})"));
                break;
            }

            var changed = r.Contributions.Where(c => other.Contributions[c.Key] != c.Value).Select(c => c.Key).Order(StringComparer.Ordinal).ToArray();
            if (changed.Length > 0)
            {
                reasons.Add(string.Create(CultureInfo.InvariantCulture, $"round {r.Round}: {Names(changed)} trained on other sample counts"));
                break;
            }
        }

        reasons.AddRange(Parameters(original, again).Select(d => $"parameter {d.Key}: {d.First ?? "(unset)"} → {d.Second ?? "(unset)"}"));
        if (original.Code.Commit != again.Code.Commit) reasons.Add($"code commit {Short(original.Code.Commit)} → {Short(again.Code.Commit)}");
        foreach (var (name, v) in original.Environment.Packages)
        {
            if (again.Environment.Packages.GetValueOrDefault(name) is { } w && w != v) reasons.Add($"package {name} {v} → {w}");
        }

        if (original.Environment.Processors != again.Environment.Processors || original.Environment.Architecture != again.Environment.Architecture || original.Environment.Os != again.Environment.Os)
        {
            reasons.Add($"machine {original.Environment.Os} {original.Environment.Architecture} ×{original.Environment.Processors} → {again.Environment.Os} {again.Environment.Architecture} ×{again.Environment.Processors} (ONNX Runtime kernels and thread counts)");
        }

        if (original.Parameters.GetValueOrDefault("strategy.exactSum") != "true") reasons.Add("the record was made without exact sums (strategy.exactSum): its means depended on arrival order");
        if (reasons.Count == 0) reasons.Add("same data, contributors, parameters, code, packages and machine: nondeterminism outside the record (local training's floating point)");
        return reasons;
    }

    private static string Short(string text) => text.Length > 12 ? text[..12] : text;

    private static string Names(string[] ids) => ids.Length == 0 ? "none" : string.Join(", ", ids.Take(5)) + (ids.Length > 5 ? $" and {ids.Length - 5} more" : string.Empty);
}
