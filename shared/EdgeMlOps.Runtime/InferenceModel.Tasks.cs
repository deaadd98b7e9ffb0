using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Runtime;

/// <summary>
/// A multi-task model (<see cref="ModelSpec.IsMultiTask"/>): every task's output read in one run, answered as a class
/// id per classifier task, a class id per position for a per-position task, each label's probability for a multi-label
/// task and the values of each regression task, and
/// scored by the weighted sum of the tasks' losses with the primary task's score as its accuracy.
/// </summary>
public sealed partial class InferenceModel
{
    /// <summary>Rows of every task's output in order, from one block per output ([count, width] each).</summary>
    private static float[] Interleave(float[][] blocks, int count, int width)
    {
        var rows = new float[count * width];
        var offset = 0;
        foreach (var block in blocks)
        {
            var w = block.Length / count;
            for (var row = 0; row < count; row++) block.AsSpan(row * w, w).CopyTo(rows.AsSpan((row * width) + offset, w));
            offset += w;
        }

        return rows;
    }

    /// <summary>Floats a multi-task model's outputs make per row (each classifier task's scores, each regression task's values).</summary>
    private static int TaskScoresWidth(IReadOnlyList<ModelTask> tasks) => tasks.Sum(t => t.ScoresWidth);

    /// <summary>A multi-task model's answer from its outputs' rows: a classifier task's class id (the argmax), a per-position task's at every position, a regression task's values.</summary>
    private static float[] TaskValues(IReadOnlyList<ModelTask> tasks, float[] scores, int count, int targets)
    {
        var width = TaskScoresWidth(tasks);
        var values = new float[count * targets];
        for (var row = 0; row < count; row++)
        {
            var (from, to) = (row * width, row * targets);
            foreach (var task in tasks)
            {
                var block = scores.AsSpan(from, task.ScoresWidth);
                if (task.IsPerPosition) PositionLabels(block, task.Classes, task.ScoreStrides, values.AsSpan(to, task.Width));
                else if (task.IsClassifier) values[to] = IndexOfMax(block);
                else block.CopyTo(values.AsSpan(to, task.Width));
                if (task.Kind == ModelTaskKind.Labels && task.Logits) SigmoidInPlace(values.AsSpan(to, task.Width)); // each label's probability
                (from, to) = (from + task.ScoresWidth, to + task.Width);
            }
        }

        return values;
    }

    /// <summary>
    /// Running sums for a multi-task model: each task's — a classifier task's softmax cross-entropy and accuracy (a
    /// per-position task's over every position), a multi-label task's binary cross-entropy and label accuracy, a
    /// regression task's MSE and R² —; its loss the tasks' weighted sum (what the step minimises), its accuracy the primary's score.
    /// </summary>
    private sealed class TaskSums(IReadOnlyList<ModelTask> tasks) : ITargetSums
    {
        private readonly ITargetSums[] _parts = [.. tasks.Select(t => t.Kind switch
        {
            ModelTaskKind.Classes or ModelTaskKind.Positions or ModelTaskKind.Tags => new PositionSums(t.Classes, t.Width, t.ScoreStrides, t.Logits), // a classifier task: one position
            ModelTaskKind.Labels => new LabelSums(t.Logits),
            _ => (ITargetSums)new TargetSums(t.Width),
        })];

        public void Add(ReadOnlySpan<float> target, ReadOnlySpan<float> scores)
        {
            var (from, truth) = (0, 0);
            for (var i = 0; i < tasks.Count; i++)
            {
                _parts[i].Add(target.Slice(truth, tasks[i].Width), scores.Slice(from, tasks[i].ScoresWidth));
                (from, truth) = (from + tasks[i].ScoresWidth, truth + tasks[i].Width);
            }
        }

        public EvaluationScore Score()
        {
            var scores = _parts.Select(p => p.Score()).ToList();
            return new EvaluationScore(scores.Select((s, i) => tasks[i].Weight * s.Loss).Sum(), scores[0].Accuracy, scores[0].Samples)
            {
                Tasks = [.. scores.Select((s, i) => new TaskScore(tasks[i].Output, Finite(s.Loss), Finite(s.Accuracy)))],
            };
        }
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
