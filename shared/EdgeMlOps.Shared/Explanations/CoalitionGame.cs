namespace EdgeMlOps.Shared.Explanations;

/// <summary>
/// The cooperative game Shapley values are taken of: the value of a coalition S of features is the model's mean
/// probability per class when the explained row supplies the features in S and each background row the others
/// (interventional, as SHAP's KernelExplainer). Rows are built and scored in chunks so memory stays bounded however
/// many coalitions are asked for.
/// </summary>
internal sealed class CoalitionGame
{
    /// <summary>Most rows handed to the model at once (coalitions × background rows).</summary>
    private const int ChunkRows = 4096;

    private readonly IProbabilityModel _model;
    private readonly float[] _explained;
    private readonly float[] _background;
    private readonly int _backgroundRows;

    public CoalitionGame(IProbabilityModel model, ReadOnlySpan<float> explained, float[] background, int backgroundRows)
    {
        if (explained.Length != model.InputDim) throw new ArgumentException($"expected {model.InputDim} features, got {explained.Length}", nameof(explained));
        if (backgroundRows <= 0 || background.Length != backgroundRows * model.InputDim)
        {
            throw new ArgumentException($"background must hold 1 or more rows of {model.InputDim} features", nameof(background));
        }

        _model = model;
        _explained = explained.ToArray();
        _background = background;
        _backgroundRows = backgroundRows;
    }

    public int Features => _model.InputDim;

    public int Classes => _model.Classes;

    /// <summary>
    /// Values [coalition, class] of the coalitions <paramref name="masks"/> (row-major [coalitions, features], true =
    /// the feature comes from the explained row).
    /// </summary>
    public double[] Values(bool[] masks, int coalitions)
    {
        var m = Features;
        var classes = Classes;
        var values = new double[coalitions * classes];
        var perChunk = Math.Max(1, ChunkRows / _backgroundRows);
        for (var first = 0; first < coalitions; first += perChunk)
        {
            var count = Math.Min(perChunk, coalitions - first);
            var rows = new float[count * _backgroundRows * m];
            for (var c = 0; c < count; c++)
            {
                var mask = masks.AsSpan((first + c) * m, m);
                for (var b = 0; b < _backgroundRows; b++)
                {
                    var row = rows.AsSpan((c * _backgroundRows + b) * m, m);
                    _background.AsSpan(b * m, m).CopyTo(row);
                    for (var j = 0; j < m; j++)
                    {
                        if (mask[j]) row[j] = _explained[j];
                    }
                }
            }

            var probabilities = _model.Probabilities(rows, count * _backgroundRows);
            for (var c = 0; c < count; c++)
            {
                for (var b = 0; b < _backgroundRows; b++)
                {
                    for (var k = 0; k < classes; k++) values[(first + c) * classes + k] += probabilities[(c * _backgroundRows + b) * classes + k];
                }

                for (var k = 0; k < classes; k++) values[(first + c) * classes + k] /= _backgroundRows;
            }
        }

        return values;
    }
}
