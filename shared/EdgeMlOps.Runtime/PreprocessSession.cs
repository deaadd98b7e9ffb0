using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime;

/// <summary>
/// The ONNX Runtime session of a declared preprocessing graph (<see cref="TensorPreprocess"/>): opened only on the
/// declared file (its sha256), checked to take exactly the declared inputs and make the declared outputs, and run as
/// it is in front of the model — when serving, and before a classifier's train steps.
/// </summary>
internal sealed class PreprocessSession : IDisposable
{
    private PreprocessSession(InferenceSession session, TensorPreprocess declared)
    {
        Session = session;
        Declared = declared;
        TakesOneSample = OrtSessions.TakesOneRow(session, [declared.Inputs[0].Name]);
    }

    public InferenceSession Session { get; }

    /// <summary>
    /// True when the graph's batch is fixed at 1 — exported for one sample, as a front end whose count each sample's
    /// data decides must be: it is run sample by sample.
    /// </summary>
    public bool TakesOneSample { get; }

    private int Chunk(int chunk) => TakesOneSample ? 1 : chunk;

    public TensorPreprocess Declared { get; }

    /// <summary>The session, or null when nothing is declared; throws <see cref="InvalidDataException"/> for missing, other or misfit bytes.</summary>
    public static PreprocessSession? Open(TensorPreprocess? declared, byte[]? bytes, OrtSessionSettings settings)
    {
        if (declared is null) return bytes is null ? null : throw new InvalidDataException("a preprocessing graph was given, but the interface declares none");
        if (bytes is null || ContentHash.Sha256Hex(bytes) != declared.Sha256)
            throw new InvalidDataException(bytes is null ? $"the preprocessing graph {declared.Sha256} is missing" : $"the preprocessing graph is not the declared {declared.Sha256}");
        var session = OrtSessions.Open(bytes, settings).Session;
        var problems = new List<string>();
        foreach (var input in declared.Inputs)
        {
            if (!session.InputMetadata.TryGetValue(input.Name, out var actual)) problems.Add($"no input '{input.Name}'");
            else if (!actual.IsTensor || actual.ElementDataType != InferenceModel.ElementType(input.Type) || actual.Dimensions.Length != input.Dims.Count) problems.Add($"input '{input.Name}' is not {input.CanonicalText}");
        }

        problems.AddRange(declared.Outputs.Where(o => !session.OutputMetadata.ContainsKey(o)).Select(o => $"no output '{o}'"));
        problems.AddRange(session.InputMetadata.Keys.Where(k => declared.Inputs.All(i => i.Name != k)).Select(k => $"input '{k}' is not declared"));
        if (problems.Count == 0) return new PreprocessSession(session, declared);
        session.Dispose();
        throw new InvalidDataException("the preprocessing graph is not the declared one: " + string.Join("; ", problems));
    }

    /// <summary>Runs the graph on <paramref name="inputs"/> (by name) and returns its declared outputs, in order; the caller disposes them.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyList<string> names, IReadOnlyList<OrtValue> inputs)
    {
        using var options = new RunOptions();
        return Session.Run(options, names, inputs, Declared.Outputs);
    }

    /// <summary>
    /// A classifier's samples (row-major, each the front end's one input's sample dims and then <paramref name="trailing"/>
    /// context values) through the graph, in chunks: the model's rows, row-major, <paramref name="featureLength"/> floats
    /// each — what it made, then the row's context values as they were.
    /// </summary>
    public float[] Features(float[] samples, int count, int featureLength, int trailing = 0, int chunk = 256)
    {
        var sampleDims = Declared.Inputs[0].Dims.Skip(1).ToArray();
        var sampleLength = checked((int)sampleDims.Aggregate(1L, (a, d) => a * d));
        var features = new float[checked(count * featureLength)];
        chunk = Chunk(chunk);
        for (var start = 0; start < count; start += chunk)
        {
            var rows = Math.Min(chunk, count - start);
            RunRows(samples, [.. Enumerable.Range(start, rows).Select(r => r * (sampleLength + trailing))], sampleLength, trailing, sampleDims, (r, made) =>
            {
                if (made.Length != featureLength - trailing) throw new InvalidDataException($"the preprocessing graph made {made.Length} values per sample; the model's features input takes {featureLength - trailing}");
                made.CopyTo(features.AsSpan((start + r) * featureLength));
                samples.AsSpan(((start + r) * (sampleLength + trailing)) + sampleLength, trailing).CopyTo(features.AsSpan(((start + r) * featureLength) + featureLength - trailing));
            });
        }

        return features;
    }

    /// <summary>
    /// Runs the graph once on the samples starting at <paramref name="starts"/> in <paramref name="samples"/> (each
    /// <paramref name="sampleLength"/> values fed as <paramref name="dims"/>, <paramref name="trailing"/> context values
    /// after it left out) and hands each its values made, in order.
    /// </summary>
    private void RunRows(float[] samples, int[] starts, int sampleLength, int trailing, long[] dims, Action<int, ReadOnlySpan<float>> each)
    {
        var batch = new float[starts.Length * sampleLength];
        for (var r = 0; r < starts.Length; r++) samples.AsSpan(starts[r], sampleLength).CopyTo(batch.AsSpan(r * sampleLength));
        using var raw = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, batch.AsMemory(), [starts.Length, .. dims]);
        using var made = Run([Declared.Inputs[0].Name], [raw]);
        var values = made[0].GetTensorDataAsSpan<float>();
        if (values.Length % starts.Length != 0) throw new InvalidDataException($"the preprocessing graph made {values.Length} values for {starts.Length} samples");
        var length = values.Length / starts.Length;
        for (var r = 0; r < starts.Length; r++) each(r, values.Slice(r * length, length));
    }

    /// <summary>
    /// Samples of several lengths (sample <c>i</c> holds <paramref name="rowLengths"/>[i] values along
    /// <paramref name="callers"/>' axis, laid end to end; null callers: all of the front end's one shape) through the
    /// graph, each length's samples run together: what it made for each followed by the sample's
    /// <paramref name="trailing"/> context values, in the samples' order, and each row's length — one in <paramref name="made"/>'s range when its features vary with the samples,
    /// else <paramref name="featureLength"/> for every row (then null lengths). A sample it makes another count of is
    /// left out (<c>LeftOut</c>: their indices, in order; empty when none), as a front end whose counts the data decides
    /// may; throws <see cref="SampleRefusedException"/> when that leaves none.
    /// </summary>
    public (float[] Features, int[]? Lengths, int[] LeftOut) FeaturesOfLengths(float[] samples, int[] rowLengths, SampleLengths? callers, int trailing, SampleLengths? made, int featureLength)
    {
        string? refusal = null;
        long[] oneLength = [.. Declared.Inputs[0].Dims.Skip(1)]; // without callers' lengths, every sample has the front end's one shape
        var sampleLength = checked((int)oneLength.Aggregate(1L, (a, d) => a * d)) + trailing;
        var lengths = rowLengths.Select(l => (callers is null ? (l == sampleLength ? 0 : null) : callers.LengthOf(l))
            ?? throw new ArgumentException($"a sample of {l} values is none of {callers?.Describe() ?? sampleLength.ToString(System.Globalization.CultureInfo.InvariantCulture)}", nameof(rowLengths))).ToArray();
        var from = new int[lengths.Length];
        for (var i = 1; i < lengths.Length; i++) from[i] = from[i - 1] + rowLengths[i - 1];
        var each = new float[lengths.Length][];
        foreach (var group in Enumerable.Range(0, lengths.Length).GroupBy(i => lengths[i]))
        {
            var rowLength = rowLengths[group.First()];
            foreach (var chunk in group.Chunk(Chunk(256)))
            {
                RunRows(samples, [.. chunk.Select(i => from[i])], rowLength - trailing, trailing, callers?.DimsAt(group.Key) ?? oneLength, (r, values) =>
                {
                    var outLength = values.Length + trailing; // what it made of this length, then the context: the model's one shape, or a length in its range
                    if (made is null ? outLength != featureLength : made.LengthOf(outLength) is null)
                    {
                        refusal ??= $"the preprocessing graph made {values.Length} values per sample{(callers is null ? string.Empty : $" of {group.Key} '{callers.Name}'")}; the model's features input takes {(made is null ? (featureLength - trailing).ToString(System.Globalization.CultureInfo.InvariantCulture) : made.Describe())}";
                        return; // this sample left out: the others train
                    }

                    each[chunk[r]] = [.. values, .. samples.AsSpan(from[chunk[r]] + rowLength - trailing, trailing)];
                });
            }
        }

        int[] leftOut = [.. Enumerable.Range(0, each.Length).Where(i => each[i] is null)];
        if (leftOut.Length == each.Length) throw new SampleRefusedException($"none of {each.Length} samples: {refusal}");
        var kept = each.Where(f => f is not null).ToArray();
        return ([.. kept.SelectMany(f => f)], made is null ? null : [.. kept.Select(f => f.Length)], leftOut);
    }

    public void Dispose() => Session.Dispose();
}
