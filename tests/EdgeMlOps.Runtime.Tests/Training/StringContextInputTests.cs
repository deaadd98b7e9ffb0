using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Onnx.Proto;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMlOps.Runtime.Tests.Training;

/// <summary>
/// A string context input (<c>export_diabetes_string_sex.py</c>: the sex column as the strings "1" and "2", one-hot
/// encoded by ai.onnx.ml inside the model): its categories come from the encoder that reads it; a row keeps a string's
/// index among them, and their count stands for a string the model does not know — served as the file serves any
/// unknown string. What cannot be kept as an index is refused where it is declared.
/// </summary>
public class StringContextInputTests
{
    private static readonly byte[] StringSex = ContextInputTrainingTests.StringSex;

    private static UploadedClassifier Open(byte[] bytes) =>
        UploadedClassifier.Open(bytes, new UploadedClassifierOptions("all") { Regression = true, Input = "measurements" });

    /// <summary>The file itself, fed the measurements and one sex string.</summary>
    private static float Original(byte[] bytes, float[] measurements, string sex)
    {
        using var session = new InferenceSession(bytes);
        using var m = OrtValue.CreateTensorValueFromMemory(measurements, [1, 9]);
        using var s = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, [1, 1]);
        s.StringTensorSetElementAt(sex, 0);
        using var runOptions = new RunOptions(); // kept alive through Run: a RunOptions collected mid-call reads as terminated
        using var outputs = session.Run(runOptions, ["measurements", "sex"], [m, s], ["progression"]);
        return outputs[0].GetTensorDataAsSpan<float>()[0];
    }

    [Fact]
    public void EachCategory_AndAnUnknownString_AreServedAsTheFileServesThem_AndAnIndexPastThemIsRefused()
    {
        var model = Open(StringSex);
        var sex = Assert.Single(model.Spec.Graph!.ContextInputs);
        Assert.Equal(TensorElement.String, sex.Type);
        Assert.Equal(["1", "2"], sex.Categories);
        using var served = InferenceModel.Load(StringSex, model.Spec);
        float[] measurements = [0.04f, 0.06f, -0.02f, -0.04f, -0.03f, -0.04f, 0.0f, 0.02f, -0.02f];
        float Served(float index) => served.PredictValues([.. measurements, index], 1).Values[0];

        Assert.Equal(Original(StringSex, measurements, "1"), Served(0), 6);
        Assert.Equal(Original(StringSex, measurements, "2"), Served(1), 6);
        Assert.Equal(Original(StringSex, measurements, "3"), Served(2), 6); // a code the encoder does not know: all zeros, as for any other
        Assert.NotEqual(Served(0), Served(2));
        var refusal = Assert.Throws<ArgumentException>(() => Served(3)).Message;
        Assert.Contains("not a category index (a whole number in [0, 2]; 2 for a string the model does not know) for input 'sex'", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void AStringInputReadByAnythingButAnEncoder_OrCategoriesThatCannotBeKept_AreRefusedNamingWhy()
    {
        // A StringNormalizer before the encoder: the strings matter beyond a list of categories.
        var normalized = ModelProto.Parser.ParseFrom(StringSex);
        var encoder = normalized.Graph.Node.Single(n => n.OpType == "OneHotEncoder");
        encoder.Input[0] = "sex_lower";
        normalized.Graph.Node.Insert(0, new NodeProto { Name = "lower", OpType = "StringNormalizer", Input = { "sex" }, Output = { "sex_lower" } });
        Assert.Contains("string input 'sex' is read by node 'lower' (StringNormalizer); a string context input must feed only OneHotEncoder, LabelEncoder or CategoryMapper",
            Assert.Throws<InvalidDataException>(() => Open(normalized.ToByteArray())).Message, StringComparison.Ordinal);

        // A LabelEncoder's keys are categories as well (ids into an embedding, as a LabelEncoder then Gather writes them).
        var labels = ModelProto.Parser.ParseFrom(StringSex);
        var onehot = labels.Graph.Node.Single(n => n.OpType == "OneHotEncoder");
        onehot.OpType = "LabelEncoder";
        onehot.Attribute.Clear();
        onehot.Attribute.Add(new AttributeProto { Name = "keys_strings", Type = AttributeProto.Types.AttributeType.Strings, Strings = { ByteString.CopyFromUtf8("F"), ByteString.CopyFromUtf8("M") } });
        Assert.Equal(["F", "M"], StringInputCategories.Read(labels.Graph, "sex"));

        // Categories a row cannot keep by index are refused where an interface declares them.
        var graph = Open(StringSex).Spec.Graph!;
        string Declared(params string[] categories) => Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [new TensorSignature("sex", TensorElement.String, [1]) { Categories = categories }] }).Message;
        Assert.Contains("context input 'sex' lists a category twice", Declared("1", "2", "1"), StringComparison.Ordinal);
        Assert.Contains("an empty category", Declared("1", ""), StringComparison.Ordinal);
        Assert.Contains($"declares {StringCategories.MaxCount + 1} categories", Declared([.. Enumerable.Range(0, StringCategories.MaxCount + 1).Select(i => $"c{i}")]), StringComparison.Ordinal);
        Assert.Contains("only a string input has categories", Assert.Throws<ArgumentException>(() => graph with { ContextInputs = [new TensorSignature("sex", TensorElement.Int64, [1]) { Categories = ["1"] }] }).Message, StringComparison.Ordinal);

        // The categories are part of the signed interface: another list is another interface.
        var other = graph with { ContextInputs = [new TensorSignature("sex", TensorElement.String, [1]) { Categories = ["2", "1"] }] };
        Assert.NotEqual(graph.CanonicalText, other.CanonicalText);
    }
}
