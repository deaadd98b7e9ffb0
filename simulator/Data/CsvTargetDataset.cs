using System.Globalization;

namespace EdgeMlOps.Simulator.Data;

/// <summary>
/// A dataset from a CSV file of numbers (<c>--dataset csv:PATH</c>): one sample per line, its features, then its true
/// values in the last columns — a regressor's values or a multi-label classifier's 0/1 labels (<see cref="Load"/>), or
/// one class id (<see cref="LoadClasses"/>). No header; every line must have the same number of finite values, and a
/// bad line is named.
/// </summary>
public static class CsvTargetDataset
{
    /// <summary>Samples whose last column is a class id (0, 1, 2, …); the classes are the largest id + 1.</summary>
    public static Dataset LoadClasses(string path)
    {
        var targets = Load(path, 1);
        var labels = new long[targets.Count];
        for (var i = 0; i < labels.Length; i++)
        {
            var id = targets.Targets![i];
            if (id < 0 || id != MathF.Floor(id) || id > 100_000) throw new InvalidDataException($"{path} sample {i + 1}: class '{id}' in the last column is not a class id (0, 1, 2, …)");
            labels[i] = (long)id;
        }

        return new Dataset(targets.Name, targets.Features, labels, targets.InputDim, (int)labels.Max() + 1);
    }

    public static Dataset Load(string path, int targets)
    {
        var features = new List<float>();
        var values = new List<float>();
        var width = -1;
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var cells = line.Split(',');
            if (width < 0) width = cells.Length;
            if (cells.Length != width || width <= targets) throw new InvalidDataException($"{path} line {number}: {cells.Length} values; every line needs the same number, more than the {targets} target column(s)");
            for (var i = 0; i < cells.Length; i++)
            {
                if (!float.TryParse(cells[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !float.IsFinite(v)) throw new InvalidDataException($"{path} line {number}: value {i + 1} '{cells[i]}' is not a finite number");
                (i < width - targets ? features : values).Add(v);
            }
        }

        if (width < 0) throw new InvalidDataException($"{path}: no samples");
        var rows = values.Count / targets;
        return new Dataset(Path.GetFileNameWithoutExtension(path), features.ToArray(), new long[rows], width - targets, 0) { Targets = values.ToArray(), TargetWidth = targets };
    }
}
