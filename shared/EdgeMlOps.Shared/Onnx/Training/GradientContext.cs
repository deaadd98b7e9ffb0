using EdgeMlOps.Shared.Onnx.Proto;

namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>One node's backward step: the gradients reaching its outputs, and where its inputs' gradients go.</summary>
internal sealed class GradientContext(NodeProto node, GraphWriter writer, GraphFacts facts, string?[] outputGrads, Func<string, bool> needsGrad, Action<string, string> addGrad)
{
    public NodeProto Node { get; } = node;

    public GraphWriter W { get; } = writer;

    public GraphFacts Facts { get; } = facts;

    public string X => Node.Input[0];

    public string Y => Node.Output[0];

    /// <summary>The gradient of the loss with respect to output 0.</summary>
    public string Dy => outputGrads[0] ?? throw Refuse("only output 0 is differentiable");

    /// <summary>The gradient of the loss with respect to output <paramref name="index"/>, or null when nothing downstream needs it.</summary>
    public string? OutputGrad(int index) => index < outputGrads.Length ? outputGrads[index] : null;

    public string Input(int index) => Node.Input[index];

    /// <summary>Whether input <paramref name="index"/> depends on a trained parameter, so its gradient is wanted.</summary>
    public bool Needs(int index) => index < Node.Input.Count && Node.Input[index].Length > 0 && needsGrad(Node.Input[index]);

    /// <summary>Adds a gradient contribution for input <paramref name="index"/> (ignored when nothing upstream trains).</summary>
    public void Give(int index, string grad)
    {
        if (Needs(index)) addGrad(Node.Input[index], grad);
    }

    /// <summary>Gives input <paramref name="index"/> the gradient <paramref name="make"/> builds, building it only when wanted.</summary>
    public void Give(int index, Func<string> make)
    {
        if (Needs(index)) addGrad(Node.Input[index], make());
    }

    public int RankOf(string value, string what) => Facts.Rank(value) ?? throw Refuse($"the rank of {what} '{value}' cannot be inferred");

    public long Int(string name, long fallback) => GraphFacts.AttributeInt(Node, name, fallback);

    public float Float(string name, float fallback) => GraphFacts.AttributeFloat(Node, name, fallback);

    public long[]? Ints(string name) => GraphFacts.AttributeInts(Node, name);

    public NotDifferentiableException Refuse(string why) => NotDifferentiableException.ForNode(Node, why);
}
