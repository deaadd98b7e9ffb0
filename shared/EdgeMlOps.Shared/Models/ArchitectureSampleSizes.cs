using System.Globalization;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Models;

/// <summary>
/// The sample sizes a signed architecture takes, read off the manifest without building its spec: its
/// <c>input_dim</c>, or any length its sample-length range allows (<see cref="SampleLengths"/>).
/// </summary>
public static class ArchitectureSampleSizes
{
    /// <summary>The range samples of <paramref name="architecture"/> may vary over, or null when they have one length.</summary>
    public static SampleLengths? Varying(this ModelArchitecture architecture) =>
        architecture.Graph is { SampleLengths: { } range } graph ? Lengths(range, graph) : null;

    /// <summary>The signed range as <see cref="SampleLengths"/>: the features' sample dims, and the context inputs' values trailing each row.</summary>
    public static SampleLengths Lengths(SampleLengthRange range, GraphInterfaceSpec graph) =>
        new(range.Name, checked((int)Math.Min(range.Axis, int.MaxValue)), range.Shortest, graph.SampleDims,
            checked(graph.ContextInputs.Select(ModelArchitectures.Signature).Sum(c => c.ValueCount)));

    /// <summary>True when a sample of <paramref name="values"/> values is one <paramref name="architecture"/> takes.</summary>
    public static bool TakesSampleOf(this ModelArchitecture architecture, long values) =>
        values == architecture.InputDim || architecture.Varying()?.LengthOf(values) is not null;

    /// <summary>What a wrong sample size is told: <c>64</c>, or <c>6 to 8 'frames' (48 to 64 values in steps of 8)</c>.</summary>
    public static string SampleSizeText(this ModelArchitecture architecture) =>
        architecture.Varying()?.Describe() ?? architecture.InputDim.ToString(CultureInfo.InvariantCulture);
}
