using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>Windows, cohorts and tests. Section <c>Aggregator:Monitoring</c>.</summary>
public sealed record MonitoringOptions
{
    /// <summary>Length of a reporting window (devices publish their profile at this period).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Device tag whose value names a device's cohort (e.g. region); null: one cohort.</summary>
    public string? CohortTag { get; init; }

    /// <summary>
    /// Each cohort's drift is tested against the sketches of its own devices' training samples (when they hold at
    /// least <see cref="MinCohortReferenceRows"/> values per input) instead of the fleet-wide mixture: after retraining
    /// on a fleet where one cohort shifted, that cohort is compared with what it now looks like, not with a mixture it
    /// never matches. False: one reference per version.
    /// </summary>
    public bool CohortReferences { get; init; }

    /// <summary>Values per input a cohort's training sketches need before they serve as its reference.</summary>
    public long MinCohortReferenceRows { get; init; } = 200;

    /// <summary>Windows kept in memory for the API and the tests.</summary>
    public int RetainedWindows { get; init; } = 48;

    public DriftOptions Drift { get; init; } = new();

    /// <summary>
    /// Devices per round asked to attach sketches of their training samples (the new version's reference profile).
    /// More give a finer reference; each costs about 4 bytes × features × min(samples, ~600) of upload.
    /// </summary>
    public int ReferenceDevicesPerRound { get; init; } = 50;

    /// <summary>Retraining policy: off, dataset (a cohort's drift share reaches Drift:Share) or feature (any drifted feature).</summary>
    public RetrainTrigger RetrainOn { get; init; } = RetrainTrigger.Off;

    /// <summary>Business KPIs from reported counters, by name (see <see cref="KpiDefinition"/>).</summary>
    public IReadOnlyList<KpiDefinition> Kpis { get; init; } = [];

    /// <summary>
    /// Inputs that carry category codes: signed into every manifest's architecture, so devices profile them with
    /// frequent-items sketches; their drift is tested on category shares.
    /// </summary>
    public IReadOnlyList<int> CategoricalFeatures { get; init; } = [];

    /// <summary>Largest profile report accepted, bytes (a 784-input window is about 0.2–1 MB); larger ones are refused as oversized.</summary>
    public int MaxProfileBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>HTTP(S) endpoint that receives every drift alert as JSON (<see cref="AlertWebhook"/>); null: none.</summary>
    public Uri? AlertWebhook { get; init; }

    /// <summary>Least time between two rounds triggered by drift.</summary>
    public TimeSpan RetrainCooldown { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>A KPI of the model against the on-device baseline for one (version, cohort, window).</summary>
public sealed record KpiView(string Name, string Definition, ulong Version, string Cohort, long Window, double Model, double Baseline);

/// <summary>Ground-truth performance of one (version, cohort, window): federated evaluation with no raw data.</summary>
public sealed record PerformanceView(ulong Version, string Cohort, long Window, long Predictions, long Outcomes, double Accuracy, double[] Precision, double[] Recall);

/// <summary>
/// Merges device window profiles by model version, cohort and window, keeps each version's
/// reference profile (merged from the sketches of the samples its round trained on), and tests
/// every feature of a window against the reference — and its predictions against the version's first production
/// predictions (prediction drift). Thread-safe; bounded to the last <see cref="MonitoringOptions.RetainedWindows"/>
/// windows.
/// </summary>
/// <remarks>
/// With <paramref name="referenceFromProduction"/> (a model served by tensor names: no training sketches exist), each
/// version's reference is formed from its first <see cref="ProductionReferenceRows"/> production rows, fleet-wide;
/// later windows are tested against it (drift reports say <c>production</c>). Such a reference lives in memory and
/// forms again after a restart. Every version's prediction reference (a classifier's predicted classes, or the sketches
/// of <paramref name="outputs"/> output values) forms from its first evaluated fleet-wide windows, until they hold
/// <see cref="ProductionReferenceRows"/> predictions; the drift watch keeps it in the registry.
/// </remarks>
public sealed partial class FleetMonitor(MonitoringOptions options, int features, int classes, bool referenceFromProduction = false, int outputs = 0)
{
    public const string AllCohorts = "all";

    /// <summary>Rows of every monitored value a production-formed reference holds before drift is tested against it.</summary>
    public const int ProductionReferenceRows = 200;

    private readonly Dictionary<ulong, WindowProfile> _forming = new();
    private readonly HashSet<ulong> _fromProduction = [];
    private readonly Dictionary<ulong, (WindowProfile Profile, long LastWindow)> _formingPredictions = new();
    private readonly Dictionary<ulong, WindowProfile> _predictionReferences = new();
    private readonly List<(ulong Version, WindowProfile Profile)> _formedPredictions = [];

    private readonly object _gate = new();
    private readonly Dictionary<(ulong Version, string Cohort, long Window), WindowProfile> _windows = new();
    private readonly Dictionary<ulong, WindowProfile> _references = new();
    private readonly Dictionary<(ulong Version, string Cohort), WindowProfile> _cohortReferences = new();
    private readonly Dictionary<string, WindowProfile> _pendingCohorts = new(StringComparer.Ordinal);
    private WindowProfile? _pendingReference;
    private readonly Dictionary<string, (string RoundId, WindowProfile Profile, string? Cohort)> _staged = new(StringComparer.Ordinal);

    public MonitoringOptions Options => options;

    /// <summary>An empty profile of this fleet's shape.</summary>
    public WindowProfile NewProfile() => new(features, classes, options.CategoricalFeatures, outputs);

    /// <summary>Reads a device's report against this fleet's shape (inputs, classes, which inputs are categorical, output values).</summary>
    public WindowProfile Read(EdgeMlOps.Shared.Protocol.V1.ProfileReport report) => WindowProfile.FromProto(report, features, classes, options.CategoricalFeatures, outputs);

    /// <summary>Whether predictions are judged: a classifier's classes or a regressor's (multi-label classifier's) values; a model served by tensor names monitors its outputs as its features.</summary>
    private bool JudgesPredictions => !referenceFromProduction && (classes > 0 || outputs > 0);

    public long WindowOf(DateTimeOffset at) => at.ToUnixTimeMilliseconds() / Math.Max(1, (long)options.Window.TotalMilliseconds);

    /// <summary>
    /// Folds a device's window profile into its cohort's and the fleet's, then forgets windows older than the retained
    /// ones — counted back from <paramref name="current"/> (the aggregator's clock), never from a window a device dated
    /// ahead of it, which would prune every real one.
    /// </summary>
    public void Add(ulong version, string? cohort, long window, WindowProfile profile, long? current = null)
    {
        lock (_gate)
        {
            Merge((version, AllCohorts, window), profile);
            if (cohort is { Length: > 0 } c && c != AllCohorts) Merge((version, c, window), profile);
            if (referenceFromProduction && !_references.ContainsKey(version)) FormReference(version, profile);
            var oldest = Math.Min(window, current ?? window) - options.RetainedWindows;
            foreach (var key in _windows.Keys.Where(k => k.Window < oldest).ToArray()) _windows.Remove(key);
        }
    }

    /// <summary>Adds production rows to <paramref name="version"/>'s forming reference; it becomes the reference once every value has enough.</summary>
    private void FormReference(ulong version, WindowProfile profile)
    {
        if (!_forming.TryGetValue(version, out var forming)) _forming[version] = forming = NewProfile();
        forming.Merge(profile);
        if (forming.Features.Min(f => f.Count) < ProductionReferenceRows) return;
        _references[version] = forming;
        _fromProduction.Add(version);
        _forming.Remove(version);
    }

    /// <summary>
    /// Adds <paramref name="window"/>'s fleet-wide profile of every version without a prediction reference to the one it
    /// is forming (whole windows: every device that reported in them, not the first few to report); it is the reference
    /// once it holds <see cref="ProductionReferenceRows"/> predictions (output values). A window is added once.
    /// </summary>
    private void FormPredictionReferences(long window)
    {
        foreach (var ((version, _, _), profile) in _windows.Where(w => w.Key.Window == window && w.Key.Cohort == AllCohorts).ToArray())
        {
            if (_predictionReferences.ContainsKey(version)) continue;
            var forming = _formingPredictions.TryGetValue(version, out var f) ? f : (Profile: NewProfile(), LastWindow: long.MinValue);
            if (window <= forming.LastWindow) continue;
            forming.Profile.Merge(profile);
            var rows = outputs > 0 ? forming.Profile.Outputs.Min(o => o.Count) : forming.Profile.PredictedClasses.Sum();
            if (rows >= ProductionReferenceRows)
            {
                _predictionReferences[version] = forming.Profile;
                _formedPredictions.Add((version, forming.Profile));
                _formingPredictions.Remove(version);
            }
            else
            {
                _formingPredictions[version] = (forming.Profile, window);
            }
        }
    }

    private void Merge((ulong, string, long) key, WindowProfile profile)
    {
        if (!_windows.TryGetValue(key, out var merged)) _windows[key] = merged = NewProfile();
        merged.Merge(profile);
    }

    /// <summary>A training profile from an accepted update of the round in progress, from a device of <paramref name="cohort"/> (null: none).</summary>
    public void AddTraining(WindowProfile profile, string? cohort = null)
    {
        lock (_gate)
        {
            _pendingReference ??= NewProfile();
            _pendingReference.Merge(profile);
            if (!options.CohortReferences || cohort is not { Length: > 0 } c || c == AllCohorts) return;
            if (!_pendingCohorts.TryGetValue(c, out var merged)) _pendingCohorts[c] = merged = NewProfile();
            merged.Merge(profile);
        }
    }

    /// <summary>
    /// Keeps a device's training profile from its update of round <paramref name="roundId"/> until the round counts the
    /// update (<see cref="AdoptTraining"/>); null forgets the one it kept. One per device: its latest update's.
    /// </summary>
    public void StageTraining(string deviceId, string roundId, WindowProfile? profile, string? cohort)
    {
        lock (_gate)
        {
            if (profile is null) _staged.Remove(deviceId);
            else _staged[deviceId] = (roundId, profile, cohort);
        }
    }

    /// <summary>The kept profiles of a round's <paramref name="contributors"/> (of <paramref name="roundId"/>; null: of any task) join the pending reference.</summary>
    public void AdoptTraining(IEnumerable<string> contributors, string? roundId)
    {
        lock (_gate)
        {
            foreach (var id in contributors)
            {
                if (_staged.Remove(id, out var staged) && (roundId is null || staged.RoundId == roundId)) AddTraining(staged.Profile, staged.Cohort);
            }
        }
    }

    /// <summary>Forgets training profiles gathered for a round that did not produce a version, and those kept for rounds before (a new round's contributors are its own).</summary>
    public void DiscardTraining()
    {
        lock (_gate)
        {
            _pendingReference = null;
            _pendingCohorts.Clear();
            _staged.Clear(); // refused updates' and departed devices' sketches: held no longer than a round
        }
    }

    /// <summary>
    /// Makes the training profiles gathered since the last call the reference of <paramref name="version"/>;
    /// without any (an uploaded version), it inherits <paramref name="parent"/>'s. Returns the reference, if any.
    /// </summary>
    public WindowProfile? PromoteReference(ulong version, ulong parent)
    {
        lock (_gate)
        {
            var fromRound = _pendingReference is not null;
            // A reference formed from production belongs to its version's outputs: a new version forms its own.
            var reference = _pendingReference ?? (referenceFromProduction ? null : HeldReference(parent));
            _pendingReference = null;
            if (reference is not null) _references[version] = reference;

            // Cohorts: the round's own sketches where a cohort trained; otherwise the parent's for that cohort.
            foreach (var ((_, cohort), parentReference) in _cohortReferences.Where(r => r.Key.Version == parent).ToArray())
            {
                if (!fromRound || !_pendingCohorts.ContainsKey(cohort)) _cohortReferences[(version, cohort)] = parentReference;
            }

            foreach (var (cohort, profile) in _pendingCohorts) _cohortReferences[(version, cohort)] = profile;
            _pendingCohorts.Clear();
            return reference;
        }
    }

    public void SetReference(ulong version, WindowProfile reference)
    {
        lock (_gate)
        {
            _references[version] = reference;
            _waiting.Remove(version);
        }
    }

    public void SetCohortReference(ulong version, string cohort, WindowProfile reference)
    {
        lock (_gate) _cohortReferences[(version, cohort)] = reference;
    }

    /// <summary>The cohort references of <paramref name="version"/> (whatever their size), by cohort.</summary>
    public IReadOnlyDictionary<string, WindowProfile> CohortReferencesOf(ulong version)
    {
        lock (_gate) return _cohortReferences.Where(r => r.Key.Version == version).ToDictionary(r => r.Key.Cohort, r => r.Value, StringComparer.Ordinal);
    }

    /// <summary>The reference a (version, cohort) window is tested against, and which one it is.</summary>
    private (WindowProfile Profile, string Scope)? ReferenceFor(ulong version, string cohort)
    {
        if (options.CohortReferences && cohort != AllCohorts && _cohortReferences.TryGetValue((version, cohort), out var own)
            && own.Features.Length > 0 && own.Features.Min(f => f.Count) >= options.MinCohortReferenceRows)
        {
            return (own, "cohort");
        }

        return HeldReference(version) is { } fleet ? (fleet, _fromProduction.Contains(version) ? "production" : "fleet") : null;
    }

    public WindowProfile? Reference(ulong version)
    {
        lock (_gate) return HeldReference(version);
    }

    public WindowProfile? Window(ulong version, string cohort, long window)
    {
        lock (_gate) return _windows.GetValueOrDefault((version, cohort, window));
    }

    /// <summary>
    /// Tests every (version, cohort) of <paramref name="window"/> that has a reference for its features or its
    /// predictions. Windows are evaluated in time order (the drift watch does): a version's prediction reference forms
    /// from its first evaluated windows.
    /// </summary>
    public IReadOnlyList<DriftReport> Evaluate(long window)
    {
        List<((ulong Version, string Cohort, long Window) Key, WindowProfile Profile, (WindowProfile Profile, string Scope)? Reference, WindowProfile? Predictions)> work;
        lock (_gate)
        {
            if (JudgesPredictions) FormPredictionReferences(window);
            work = _windows.Where(w => w.Key.Window == window)
                .Select(w => (w.Key, w.Value, Reference: ReferenceFor(w.Key.Version, w.Key.Cohort), Predictions: _predictionReferences.GetValueOrDefault(w.Key.Version)))
                .Where(w => w.Reference is not null || w.Predictions is not null).ToList();
        }

        var reports = new List<DriftReport>();
        foreach (var (key, profile, reference, predictionReference) in work.OrderBy(w => w.Key.Version).ThenBy(w => w.Key.Cohort, StringComparer.Ordinal))
        {
            var tests = reference is { } r
                ? Enumerable.Range(0, features).Select(f => DriftStatistics.Test(f, r.Profile.Features[f], profile.Features[f], options.Drift)).ToArray()
                : [];
            var judged = tests.Count(t => !double.IsNaN(t.Score));
            var drifted = tests.Where(t => t.Drifted).ToArray();
            var share = judged == 0 ? 0 : (double)drifted.Length / judged;
            var predictionTests = predictionReference is null ? [] : PredictionTests(predictionReference, profile);
            reports.Add(new DriftReport(key.Version, key.Cohort, key.Window, features, judged, drifted.Length, share, judged > 0 && share >= options.Drift.DriftShare,
                drifted, profile.Predictions, profile.Outcomes, profile.Accuracy)
            {
                Reference = reference?.Scope ?? "none",
                OutputsJudged = predictionTests.Count(t => !double.IsNaN(t.Score)),
                DriftedOutputs = predictionTests.Where(t => t.Drifted).ToArray(),
                ClassOutputs = outputs == 0 && predictionTests.Length > 0,
            });
        }

        return reports;
    }

    /// <summary>
    /// A classifier's predicted classes (one test), or each output value, against the version's prediction reference.
    /// Per-feature method overrides do not apply; with several outputs each p-value is held to
    /// <see cref="DriftOptions.KsPValue"/> / outputs (Bonferroni), so a window of a model with many labels raises a
    /// false alarm no more often than one with a single output.
    /// </summary>
    private FeatureDrift[] PredictionTests(WindowProfile reference, WindowProfile current)
    {
        var drift = options.Drift with { PerFeature = new Dictionary<int, DriftMethod>(), KsPValue = options.Drift.KsPValue / Math.Max(1, outputs) };
        return outputs > 0
            ? Enumerable.Range(0, outputs).Select(o => DriftStatistics.Test(o, reference.Outputs[o], current.Outputs[o], drift)).ToArray()
            : [DriftStatistics.TestCounts(0, reference.PredictedClasses, current.PredictedClasses, drift)];
    }

    /// <summary>The prediction reference of <paramref name="version"/>, once formed.</summary>
    public WindowProfile? PredictionReference(ulong version)
    {
        lock (_gate) return _predictionReferences.GetValueOrDefault(version);
    }

    /// <summary>Prediction references formed since the last call (for the registry to keep).</summary>
    public IReadOnlyList<(ulong Version, WindowProfile Profile)> TakeFormedPredictionReferences()
    {
        lock (_gate)
        {
            var formed = _formedPredictions.ToArray();
            _formedPredictions.Clear();
            return formed;
        }
    }

    /// <summary>A prediction reference formed before (the registry's, read at start): the version does not form another.</summary>
    public void SetPredictionReference(ulong version, WindowProfile reference)
    {
        lock (_gate)
        {
            _predictionReferences[version] = reference;
            _formingPredictions.Remove(version);
        }
    }

    /// <summary>Every configured KPI for the model and the baseline, per (version, cohort, window).</summary>
    public IReadOnlyList<KpiView> Kpis()
    {
        lock (_gate)
        {
            return _windows.OrderBy(w => w.Key.Version).ThenBy(w => w.Key.Cohort, StringComparer.Ordinal).ThenBy(w => w.Key.Window)
                .SelectMany(w => options.Kpis.Select(k => new KpiView(k.Name, k.Text, w.Key.Version, w.Key.Cohort, w.Key.Window, k.Evaluate(w.Value, baseline: false), k.Evaluate(w.Value, baseline: true))))
                .ToArray();
        }
    }

    /// <summary>Accuracy, precision and recall per (version, cohort, window) from the confusion counts devices reported.</summary>
    public IReadOnlyList<PerformanceView> Performance()
    {
        lock (_gate)
        {
            return _windows.OrderBy(w => w.Key.Version).ThenBy(w => w.Key.Cohort, StringComparer.Ordinal).ThenBy(w => w.Key.Window)
                .Select(w => new PerformanceView(w.Key.Version, w.Key.Cohort, w.Key.Window, w.Value.Predictions, w.Value.Outcomes, w.Value.Accuracy,
                    Enumerable.Range(0, classes).Select(w.Value.Precision).ToArray(), Enumerable.Range(0, classes).Select(w.Value.Recall).ToArray()))
                .ToArray();
        }
    }
}
