using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Monitoring;

/// <summary>
/// What a device's feature sketches must satisfy before they leave it. Sketches hold single
/// features' values (never a row: each feature's items are sorted and sampled on their own, with no
/// link between features or to a label); the policy adds a minimum number of rows per published
/// window (a k-anonymity-style floor), compaction so that every published item was a random pick
/// of at least two values, and a cap on items per feature (payload size). It is not differential
/// privacy; docs/ARCHITECTURE.md says what it protects against.
/// </summary>
/// <param name="MinRows">Fewest sketched rows in a published window; a smaller window is carried over or sent without feature sketches.</param>
/// <param name="MinLevel">Lowest KLL level allowed in a published sketch (1: no item stands for a single value).</param>
/// <param name="MaxItems">Most items per quantile sketch (0: KLL's own bound, about 3k).</param>
public sealed record SketchPolicy(int MinRows = 20, int MinLevel = 1, int MaxItems = 0)
{
    /// <summary>No floor, no compaction: for tests and trusted single-tenant setups.</summary>
    public static SketchPolicy None { get; } = new(0, 0, 0);
}

/// <summary>
/// What a device (or the fleet, merged) saw in one window for one model version: a profile per
/// input feature, predictions per class (or, for a regressor or multi-label classifier, a profile per output value), a
/// confidence sketch, and the confusion counts of predictions whose ground truth arrived. Everything merges; nothing
/// holds a raw value.
/// </summary>
public sealed class WindowProfile
{
    /// <param name="features">Model inputs.</param>
    /// <param name="classes">Model classes.</param>
    /// <param name="categorical">Indices of the inputs that carry category codes (profiled with frequent-items sketches).</param>
    /// <param name="outputs">Output values profiled per prediction: a regressor's targets or a multi-label classifier's labels (0: none).</param>
    public WindowProfile(int features, int classes, IEnumerable<int>? categorical = null, int outputs = 0)
    {
        // No classes (0) is a model that is not a classifier: its rows are monitored outputs, with no class counts.
        if (features <= 0 || classes < 0) throw new ArgumentOutOfRangeException(nameof(features));
        if (outputs < 0) throw new ArgumentOutOfRangeException(nameof(outputs));
        Outputs = Enumerable.Range(0, outputs).Select(_ => new FeatureProfile()).ToArray();
        var categories = new SortedSet<int>(categorical ?? []);
        if (categories.Count > 0 && (categories.Min < 0 || categories.Max >= features)) throw new ArgumentOutOfRangeException(nameof(categorical), $"categorical feature indices must be in [0, {features})");
        CategoricalFeatures = categories.ToArray();
        Features = Enumerable.Range(0, features).Select(f => new FeatureProfile(categorical: categories.Contains(f))).ToArray();
        PredictedClasses = new long[classes];
        Confusion = new long[classes * classes];
        BaselinePredictedClasses = new long[classes];
        BaselineConfusion = new long[classes * classes];
    }

    /// <summary>What the on-device rule-based baseline predicted on the same traffic.</summary>
    public long[] BaselinePredictedClasses { get; private set; }

    /// <summary>The baseline's confusion counts, row-major [true][predicted].</summary>
    public long[] BaselineConfusion { get; private set; }

    /// <summary>The baseline's prediction for a served input.</summary>
    public void AddBaselinePrediction(long predicted)
    {
        if (predicted >= 0 && predicted < Classes) BaselinePredictedClasses[predicted]++;
    }

    /// <summary>Ground truth against the baseline's prediction.</summary>
    public void AddBaselineOutcome(long actual, long predicted)
    {
        if (actual < 0 || actual >= Classes || predicted < 0 || predicted >= Classes) return;
        BaselineConfusion[actual * Classes + predicted]++;
    }

    public FeatureProfile[] Features { get; private set; }

    /// <summary>A regressor's values or a multi-label classifier's label probabilities, one profile per output (prediction drift).</summary>
    public FeatureProfile[] Outputs { get; private set; }

    /// <summary>Indices of the categorical inputs, ascending.</summary>
    public IReadOnlyList<int> CategoricalFeatures { get; }

    public long[] PredictedClasses { get; private set; }

    public KllSketch Confidence { get; private set; } = new();

    /// <summary>Row-major [true][predicted].</summary>
    public long[] Confusion { get; private set; }

    public long Predictions { get; private set; }

    /// <summary>Inference latency of the window's predictions (mergeable into fleet percentiles).</summary>
    public LatencyHistogram Latency { get; private set; } = new();

    /// <summary>Resident memory, MB: one value per device window.</summary>
    public KllSketch MemoryMb { get; private set; } = new();

    public int Classes => PredictedClasses.Length;

    /// <summary>Labelled outcomes counted.</summary>
    public long Outcomes => Confusion.Sum();

    public long Correct => Enumerable.Range(0, Classes).Sum(c => Confusion[c * Classes + c]);

    /// <summary>Accuracy on ground truth, or NaN without any.</summary>
    public double Accuracy => Outcomes == 0 ? double.NaN : (double)Correct / Outcomes;

    /// <summary>Precision of one class: correct predictions of it over all predictions of it (NaN if never predicted).</summary>
    public double Precision(int c)
    {
        long predicted = 0;
        for (var t = 0; t < Classes; t++) predicted += Confusion[t * Classes + c];
        return predicted == 0 ? double.NaN : (double)Confusion[c * Classes + c] / predicted;
    }

    /// <summary>Recall of one class: correct predictions of it over all samples that truly were it (NaN if none).</summary>
    public double Recall(int c)
    {
        long actual = 0;
        for (var p = 0; p < Classes; p++) actual += Confusion[c * Classes + p];
        return actual == 0 ? double.NaN : (double)Confusion[c * Classes + c] / actual;
    }

    /// <summary>One served prediction: its inputs, predicted class, confidence and latency; with <c>sketchFeatures</c> false it is counted without sketching its inputs (sampled profiles).</summary>
    public void AddPrediction(ReadOnlySpan<float> features, long predicted, float confidence, TimeSpan latency, bool sketchFeatures = true)
    {
        Latency.Record(latency);
        if (features.Length != Features.Length) throw new ArgumentException($"expected {Features.Length} features, got {features.Length}", nameof(features));
        if (sketchFeatures)
        {
            for (var f = 0; f < features.Length; f++) Features[f].Add(features[f]);
            SketchedRows++;
        }

        if (predicted >= 0 && predicted < Classes) PredictedClasses[predicted]++;
        if (float.IsFinite(confidence)) Confidence.Add(confidence);
        Predictions++;
    }

    /// <summary>
    /// A sampled prediction's output values (sketched with its inputs: call after <see cref="AddInputs"/> or
    /// <see cref="AddPrediction"/> of the same row).
    /// </summary>
    public void AddOutputs(ReadOnlySpan<float> outputs)
    {
        if (outputs.Length != Outputs.Length) throw new ArgumentException($"expected {Outputs.Length} outputs, got {outputs.Length}", nameof(outputs));
        for (var o = 0; o < outputs.Length; o++) Outputs[o].Add(outputs[o]);
    }

    /// <summary>Inputs only (e.g. the samples a round trained on).</summary>
    public void AddInputs(ReadOnlySpan<float> features)
    {
        if (features.Length != Features.Length) throw new ArgumentException($"expected {Features.Length} features, got {features.Length}", nameof(features));
        for (var f = 0; f < features.Length; f++) Features[f].Add(features[f]);
        SketchedRows++;
    }

    /// <summary>Input rows folded into the feature profiles (on a device; not reported).</summary>
    public long SketchedRows { get; private set; }

    /// <summary>
    /// Makes the profile fit to leave the device under <paramref name="policy"/>: with fewer than
    /// <see cref="SketchPolicy.MinRows"/> sketched rows the feature profiles are emptied (counts,
    /// classes, confusion, latency stay) and false is returned; otherwise every quantile sketch is
    /// compacted to the policy's level and size.
    /// </summary>
    public bool ApplyPolicy(SketchPolicy policy)
    {
        if (SketchedRows < policy.MinRows)
        {
            for (var f = 0; f < Features.Length; f++) Features[f] = new FeatureProfile(categorical: Features[f].IsCategorical);
            for (var o = 0; o < Outputs.Length; o++) Outputs[o] = new FeatureProfile();
            SketchedRows = 0;
            return false;
        }

        foreach (var feature in Features.Concat(Outputs))
        {
            if (!feature.IsCategorical) feature.Sketch.Compact(policy.MinLevel, policy.MaxItems);
        }

        return true;
    }

    /// <summary>Ground truth for an earlier prediction of this version.</summary>
    public void AddOutcome(long actual, long predicted)
    {
        if (actual < 0 || actual >= Classes || predicted < 0 || predicted >= Classes) return;
        Confusion[actual * Classes + predicted]++;
    }

    public void Merge(WindowProfile other)
    {
        if (other.Features.Length != Features.Length || other.Classes != Classes || other.Outputs.Length != Outputs.Length || !other.CategoricalFeatures.SequenceEqual(CategoricalFeatures))
        {
            throw new ArgumentException("profiles of different shapes do not merge");
        }

        for (var f = 0; f < Features.Length; f++) Features[f].Merge(other.Features[f]);
        for (var o = 0; o < Outputs.Length; o++) Outputs[o].Merge(other.Outputs[o]);
        for (var c = 0; c < Classes; c++) PredictedClasses[c] += other.PredictedClasses[c];
        for (var i = 0; i < Confusion.Length; i++) Confusion[i] += other.Confusion[i];
        for (var c = 0; c < Classes; c++) BaselinePredictedClasses[c] += other.BaselinePredictedClasses[c];
        for (var i = 0; i < BaselineConfusion.Length; i++) BaselineConfusion[i] += other.BaselineConfusion[i];
        Confidence.Merge(other.Confidence);
        Latency.Merge(other.Latency);
        MemoryMb.Merge(other.MemoryMb);
        Predictions += other.Predictions;
    }

    public ProfileReport ToProto()
    {
        var report = new ProfileReport { Predictions = (ulong)Predictions, Confidence = ToProto(Confidence) };
        report.Features.Add(Features.Select(ToProto));
        if (Outputs.Any(o => o.Count + o.Missing + o.NonFinite > 0)) report.Outputs.Add(Outputs.Select(ToProto));

        report.PredictedClasses.Add(PredictedClasses.Select(c => (ulong)c));
        report.Confusion.Add(Confusion.Select(c => (ulong)c));
        if (BaselinePredictedClasses.Any(c => c > 0) || BaselineConfusion.Any(c => c > 0))
        {
            report.BaselinePredictedClasses.Add(BaselinePredictedClasses.Select(c => (ulong)c));
            report.BaselineConfusion.Add(BaselineConfusion.Select(c => (ulong)c));
        }

        if (Latency.Count > 0) report.LatencyBuckets.Add(Latency.Snapshot().Select(c => (ulong)c));
        if (!MemoryMb.IsEmpty) report.MemoryMb = ToProto(MemoryMb);
        return report;
    }

    /// <summary>
    /// Reads a reported profile, refusing anything impossible or of the wrong shape (feature or
    /// class count, counts beyond any real device, non-finite sketch items, inconsistent moments)
    /// with an <see cref="InvalidDataException"/>: a bad report never reaches a merged profile. Output sketches are
    /// optional (a window without sampled rows, an agent older than them) and otherwise one per output.
    /// </summary>
    public static WindowProfile FromProto(ProfileReport report, int features, int classes, IEnumerable<int>? categorical = null, int outputs = 0)
    {
        const ulong MaxCount = 1UL << 40;
        if (report.Features.Count != features) throw new InvalidDataException($"{report.Features.Count} feature sketches, the model has {features} inputs");
        if (report.Outputs.Count != 0 && report.Outputs.Count != outputs) throw new InvalidDataException($"{report.Outputs.Count} output sketches, the model has {outputs} outputs");
        if (report.PredictedClasses.Count is var pc && pc != 0 && pc != classes) throw new InvalidDataException($"{pc} class counts, the model has {classes} classes");
        if (report.Confusion.Count is var cc && cc != 0 && cc != classes * classes) throw new InvalidDataException($"{cc} confusion cells, expected {classes * classes}");
        if (report.BaselinePredictedClasses.Count is var bp && bp != 0 && bp != classes) throw new InvalidDataException($"{bp} baseline class counts, the model has {classes} classes");
        if (report.BaselineConfusion.Count is var bc && bc != 0 && bc != classes * classes) throw new InvalidDataException($"{bc} baseline confusion cells, expected {classes * classes}");
        if (report.Predictions > MaxCount || report.PredictedClasses.Concat(report.Confusion).Concat(report.BaselinePredictedClasses).Concat(report.BaselineConfusion).Any(c => c > MaxCount))
        {
            throw new InvalidDataException("a count is beyond any real device (negative before encoding?)");
        }
        var profile = new WindowProfile(features, classes, categorical, outputs)
        {
            Predictions = (long)report.Predictions,
            Confidence = report.Confidence is null ? new KllSketch() : FromProto(report.Confidence),
            Latency = report.LatencyBuckets.Count == 0 ? new LatencyHistogram() : LatencyHistogram.FromCounts(report.LatencyBuckets),
            MemoryMb = report.MemoryMb is null ? new KllSketch() : FromProto(report.MemoryMb),
        };
        for (var f = 0; f < features; f++) profile.Features[f] = FromProto(report.Features[f], $"feature {f}", profile.Features[f].IsCategorical);
        for (var o = 0; o < report.Outputs.Count; o++)
        {
            // Outputs are sketched from the window's own predictions: never more values than predictions.
            var output = FromProto(report.Outputs[o], $"output {o}", isCategorical: false);
            if (output.Count + output.Missing + output.NonFinite > profile.Predictions) throw new InvalidDataException($"output {o}: {output.Count + output.Missing + output.NonFinite} values from {profile.Predictions} predictions");
            profile.Outputs[o] = output;
        }

        for (var c = 0; c < report.PredictedClasses.Count; c++) profile.PredictedClasses[c] = (long)report.PredictedClasses[c];
        for (var i = 0; i < report.Confusion.Count; i++) profile.Confusion[i] = (long)report.Confusion[i];
        for (var c = 0; c < report.BaselinePredictedClasses.Count; c++) profile.BaselinePredictedClasses[c] = (long)report.BaselinePredictedClasses[c];
        for (var i = 0; i < report.BaselineConfusion.Count; i++) profile.BaselineConfusion[i] = (long)report.BaselineConfusion[i];
        return profile;
    }

    private static FeatureSketch ToProto(FeatureProfile f)
    {
        var sketch = new FeatureSketch { Count = (ulong)f.Count, Mean = f.Mean, M2 = f.M2, Missing = (ulong)f.Missing, NonFinite = (ulong)f.NonFinite };
        if (f.Categories is { } categories) sketch.Categories = ToProto(categories);
        else sketch.Quantiles = ToProto(f.Sketch);
        return sketch;
    }

    /// <summary>One reported feature (or output) profile; <paramref name="what"/> names it in a refusal.</summary>
    private static FeatureProfile FromProto(FeatureSketch s, string what, bool isCategorical)
    {
        const ulong MaxCount = 1UL << 40;
        if (s.Count > MaxCount || s.Missing > MaxCount || s.NonFinite > MaxCount) throw new InvalidDataException($"{what}: impossible count");
        if (isCategorical ? s.Quantiles is not null : s.Categories is not null)
        {
            throw new InvalidDataException($"{what} is {(isCategorical ? "categorical" : "numeric")} but carries {(isCategorical ? "quantiles" : "categories")}");
        }

        var sketch = s.Quantiles is null ? new KllSketch() : FromProto(s.Quantiles);
        var categories = isCategorical ? s.Categories is null ? new FrequentItemsSketch() : FromProto(s.Categories) : null;
        return FeatureProfile.FromParts((long)s.Count, s.Mean, s.M2, (long)s.Missing, (long)s.NonFinite, sketch, categories);
    }

    public static KllSketchData ToProto(KllSketch sketch)
    {
        var data = new KllSketchData { K = (uint)sketch.K, Count = (ulong)sketch.Count, Min = sketch.IsEmpty ? 0 : sketch.Min, Max = sketch.IsEmpty ? 0 : sketch.Max };
        foreach (var level in sketch.Levels)
        {
            data.LevelSizes.Add((uint)level.Count);
            data.Items.Add(level);
        }

        return data;
    }

    public static FrequentItemsData ToProto(FrequentItemsSketch sketch)
    {
        var data = new FrequentItemsData { K = (uint)sketch.K, Count = (ulong)sketch.Count, MaxError = (ulong)sketch.MaximumError };
        foreach (var (item, count) in sketch.Items)
        {
            data.Items.Add(item);
            data.Counts.Add((ulong)count);
        }

        return data;
    }

    public static FrequentItemsSketch FromProto(FrequentItemsData data)
    {
        const ulong MaxCount = 1UL << 40;
        if (data.Count > MaxCount || data.MaxError > MaxCount || data.Counts.Any(c => c > MaxCount)) throw new InvalidDataException("impossible category count");
        return FrequentItemsSketch.FromParts((int)Math.Min(data.K, int.MaxValue), (long)data.Count, (long)data.MaxError, data.Items, data.Counts.Select(c => (long)c).ToArray());
    }

    public static KllSketch FromProto(KllSketchData data)
    {
        if (data.Count > 1UL << 40 || data.LevelSizes.Any(s => s > 1_000_000)) throw new InvalidDataException("impossible sketch size");
        return KllSketch.FromParts((int)Math.Min(data.K, int.MaxValue), (long)data.Count, data.Min, data.Max, data.LevelSizes.Select(s => (int)s).ToArray(), data.Items);
    }
}
