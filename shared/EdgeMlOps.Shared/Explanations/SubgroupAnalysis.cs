namespace EdgeMlOps.Shared.Explanations;

/// <summary>
/// How a model does for one group of rows (a cohort or a value of a declared attribute, named <c>attribute=value</c>):
/// accuracy, macro precision and recall over the classes present in the group (scikit-learn's macro average with
/// zero_division=0), expected calibration error over 10 equal-width confidence bins, and for two classes the selection
/// rate (share predicted class 1, for demographic parity).
/// </summary>
public sealed record GroupMetrics(string Group, int Samples, double Accuracy, double MacroPrecision, double MacroRecall, double CalibrationError, double? SelectionRate)
{
    /// <summary>The attribute a group belongs to: the part of its name before '=' (the whole name without one).</summary>
    public string Attribute => Group.IndexOf('=', StringComparison.Ordinal) is var at and > 0 ? Group[..at] : Group;
}

/// <summary>The spread of a metric across the groups of one attribute: what a fairness review reads first.</summary>
public sealed record GroupGap(string Attribute, string Metric, double Gap, string Lowest, string Highest);

/// <summary>Subpopulation analysis (Fairlearn's MetricFrame, by hand): metrics per group and the gaps between an attribute's groups.</summary>
public static class SubgroupAnalysis
{
    private const int CalibrationBins = 10;

    /// <param name="probabilities">Row-major [rows, classes].</param>
    /// <param name="classes">Classes of the model.</param>
    /// <param name="labels">True class per row.</param>
    /// <param name="groups">Per row, the groups it belongs to (a row may belong to one group of each attribute).</param>
    public static IReadOnlyList<GroupMetrics> Compute(float[] probabilities, int classes, long[] labels, IReadOnlyList<IReadOnlyList<string>> groups)
    {
        if (probabilities.Length != labels.Length * classes) throw new ArgumentException($"expected {labels.Length} rows of {classes} probabilities", nameof(probabilities));
        if (groups.Count != labels.Length) throw new ArgumentException($"{groups.Count} group lists for {labels.Length} rows", nameof(groups));
        var members = new SortedDictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < labels.Length; i++)
        {
            foreach (var group in groups[i].Distinct())
            {
                if (!members.TryGetValue(group, out var rows)) members[group] = rows = [];
                rows.Add(i);
            }
        }

        return members.Select(g => Metrics(g.Key, g.Value, probabilities, classes, labels)).ToArray();
    }

    /// <summary>Per attribute with two or more groups: the gap (highest − lowest) in accuracy, macro recall and, for two classes, selection rate.</summary>
    public static IReadOnlyList<GroupGap> Gaps(IReadOnlyList<GroupMetrics> metrics, int minSamples = 1)
    {
        var gaps = new List<GroupGap>();
        foreach (var attribute in metrics.Where(m => m.Samples >= minSamples).GroupBy(m => m.Attribute).Where(a => a.Count() > 1))
        {
            Add(attribute, "accuracy", m => m.Accuracy);
            Add(attribute, "recall", m => m.MacroRecall);
            if (attribute.All(m => m.SelectionRate is not null)) Add(attribute, "selection rate", m => m.SelectionRate!.Value);
        }

        return gaps;

        void Add(IEnumerable<GroupMetrics> groups, string metric, Func<GroupMetrics, double> value)
        {
            var ordered = groups.OrderBy(value).ThenBy(m => m.Group, StringComparer.Ordinal).ToArray();
            gaps.Add(new GroupGap(ordered[0].Attribute, metric, value(ordered[^1]) - value(ordered[0]), ordered[0].Group, ordered[^1].Group));
        }
    }

    private static GroupMetrics Metrics(string group, List<int> rows, float[] probabilities, int classes, long[] labels)
    {
        var truePositive = new int[classes];
        var predictedCount = new int[classes];
        var actualCount = new int[classes];
        var binCount = new int[CalibrationBins];
        var binCorrect = new int[CalibrationBins];
        var binConfidence = new double[CalibrationBins];
        var correct = 0;
        var predictedOne = 0;
        foreach (var i in rows)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            var predicted = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row);
            var label = (int)labels[i];
            var hit = predicted == label;
            correct += hit ? 1 : 0;
            predictedOne += predicted == 1 ? 1 : 0;
            predictedCount[predicted]++;
            actualCount[label]++;
            if (hit) truePositive[label]++;
            var confidence = row[predicted];
            var bin = Math.Clamp((int)(confidence * CalibrationBins), 0, CalibrationBins - 1);
            binCount[bin]++;
            binCorrect[bin] += hit ? 1 : 0;
            binConfidence[bin] += confidence;
        }

        var present = Enumerable.Range(0, classes).Where(k => predictedCount[k] > 0 || actualCount[k] > 0).ToArray();
        var precision = present.Average(k => predictedCount[k] == 0 ? 0 : (double)truePositive[k] / predictedCount[k]);
        var recall = present.Average(k => actualCount[k] == 0 ? 0 : (double)truePositive[k] / actualCount[k]);
        var ece = 0.0;
        for (var b = 0; b < CalibrationBins; b++)
        {
            if (binCount[b] > 0) ece += Math.Abs((double)binCorrect[b] / binCount[b] - binConfidence[b] / binCount[b]) * binCount[b];
        }

        return new GroupMetrics(group, rows.Count, (double)correct / rows.Count, precision, recall, ece / rows.Count, classes == 2 ? (double)predictedOne / rows.Count : null);
    }
}
