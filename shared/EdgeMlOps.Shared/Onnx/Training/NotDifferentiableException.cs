namespace EdgeMlOps.Shared.Onnx.Training;

/// <summary>The train step cannot be generated: an op on the gradient path has no gradient rule, or the request does not fit the graph. The message names the op and the node.</summary>
public sealed class NotDifferentiableException(string message) : Exception(message)
{
    public static NotDifferentiableException ForNode(Proto.NodeProto node, string why) =>
        new($"cannot differentiate node '{NodeLabel(node)}' ({node.OpType}): {why}");

    public static string NodeLabel(Proto.NodeProto node) => string.IsNullOrEmpty(node.Name) ? node.Output.FirstOrDefault() ?? "?" : node.Name;
}
