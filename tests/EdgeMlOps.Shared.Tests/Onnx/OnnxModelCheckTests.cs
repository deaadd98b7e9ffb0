using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Onnx;

public class OnnxModelCheckTests
{
    private static ModelProto Valid() => ClassifierGraphs.BuildInference(ModelWeights.Initialize(ModelSpecText.Parse("mlp-4-3-2"), 1));

    [Fact]
    public void AWellFormedModel_HasNoProblems_AndIsDescribed()
    {
        var model = Valid();
        Assert.Empty(OnnxModelCheck.Problems(model));
        Assert.Equal("float [batch, 4]", OnnxModelCheck.Describe(model.Graph.Input[0]));
        Assert.Equal(("Gemm", 2), OnnxModelCheck.OpHistogram(model)[0]);
    }

    public static TheoryData<string, string> Breakages => new()
    {
        { "undefined input", "reads 'ghost', which no input, initializer or earlier node produces" },
        { "out of order", "which no input, initializer or earlier node produces" },
        { "written twice", "which is already defined (every value is produced once)" },
        { "output not produced", "output 'nowhere' is produced by no node" },
        { "IR 2", "IR version 2 is outside the supported 3–11" },
        { "no default opset", "imports no default-domain (ai.onnx) opset" },
        { "custom domain", "opset domain 'com.example' is not one ONNX Runtime implements" },
        { "short initializer", "initializer 'layer0.weight' declares [4, 3] Float (48 bytes) but holds 44" },
        { "untyped input", "input 'features' has no type" },
        { "default opset twice", "opset domain 'ai.onnx' is imported twice (versions 17, 0)" },
        { "ai.onnx.ml twice", "opset domain 'ai.onnx.ml' is imported twice (versions 3, 1)" },
        { "opset 6", "ai.onnx opset 6 is older than 7, the oldest ONNX Runtime guarantees to run" },
        { "opset 0", "ai.onnx opset 0 is older than 7" },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public void EachBrokenRule_IsReported_NamingWhatIsWrong(string breakage, string message)
    {
        var model = Valid();
        var graph = model.Graph;
        switch (breakage)
        {
            case "undefined input": graph.Node[1].Input[0] = "ghost"; break;
            case "out of order": (graph.Node[0], graph.Node[1]) = (graph.Node[1].Clone(), graph.Node[0].Clone()); break;
            case "written twice": graph.Node[1].Output[0] = graph.Node[0].Output[0]; break;
            case "output not produced": graph.Output.Add(new ValueInfoProto { Name = "nowhere", Type = graph.Output[0].Type.Clone() }); break;
            case "IR 2": model.IrVersion = 2; break;
            case "no default opset": model.OpsetImport.Clear(); break;
            case "custom domain": model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 }); break;
            case "short initializer": graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[44]); break;
            case "untyped input": graph.Input[0].Type = null; break;
            case "default opset twice": model.OpsetImport.Add(new OperatorSetIdProto { Domain = "ai.onnx", Version = 0 }); break; // ONNX's checker reads the last, ONNX Runtime loaded it and the train step the first
            case "ai.onnx.ml twice": model.OpsetImport.Add(new OperatorSetIdProto { Domain = "ai.onnx.ml", Version = 3 }); model.OpsetImport.Add(new OperatorSetIdProto { Domain = "ai.onnx.ml", Version = 1 }); break;
            case "opset 6": model.OpsetImport[0].Version = 6; break;
            case "opset 0": model.OpsetImport[0].Version = 0; break;
        }

        Assert.Contains(OnnxModelCheck.Problems(model), p => p.Contains(message, StringComparison.Ordinal));
    }
}
