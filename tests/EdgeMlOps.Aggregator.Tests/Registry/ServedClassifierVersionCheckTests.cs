using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// A new file as the next version of an uploaded model the fleet serves without training: admitted when it keeps the
/// fleet's interface — whatever kind the model is (classifier, regressor, with context inputs) — refused naming what differs.
/// </summary>
public sealed class ServedClassifierVersionCheckTests
{
    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name));

    [Fact]
    public void AServedOnlyRegressor_TakesANewFileWithItsInterface_AndRefusesAClassifier()
    {
        var regressor = Fixture("pytorch_diabetes_regressor.onnx");
        var source = UploadedClassifier.Open(regressor, new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { Regression = true });

        Assert.Empty(ServedClassifierVersionCheck.Admit(source, regressor).Values); // its own file again: a regressor, as the fleet's

        var refused = Assert.Throws<UploadRefusedException>(() => ServedClassifierVersionCheck.Admit(source, Fixture("pytorch_binary_detector.onnx")));
        Assert.Contains("the file cannot be a version of this fleet's model", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AServedOnlyModelWithAContextInput_RefusesAFileWhoseContextDiffers_NamingBoth()
    {
        var file = Fixture("pytorch_diabetes_two_inputs.onnx");
        var source = UploadedClassifier.Open(file, new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { Regression = true, Input = "measurements" });
        Assert.Empty(ServedClassifierVersionCheck.Admit(source, file).Values);

        // The same graph whose second input is another category ("group", not "sex"): every device's requests would feed the wrong thing.
        var renamed = ClassifierGraphs.Parse(file);
        renamed.Graph.Input.Single(i => i.Name == "sex").Name = "group";
        foreach (var node in renamed.Graph.Node)
        {
            for (var i = 0; i < node.Input.Count; i++) if (node.Input[i] == "sex") node.Input[i] = "group";
        }

        var refused = Assert.Throws<UploadRefusedException>(() => ServedClassifierVersionCheck.Admit(source, renamed.ToByteArray()));
        Assert.Contains("context inputs group:int64[1], the fleet's are sex:int64[1]", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AServedOnlyRegressorWithSeveralAxes_RefusesAFileWithTheSameValuesInAnotherShape()
    {
        var shaped = Fixture("pytorch_digit_completion.onnx");
        var source = UploadedClassifier.Open(shaped, new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { Regression = true, Output = "bottom" });
        Assert.Empty(ServedClassifierVersionCheck.Admit(source, shaped).Values);

        // The same weights exported with the lower half flat ([batch, 32]): as many values, in another signed shape.
        var refused = Assert.Throws<UploadRefusedException>(() => ServedClassifierVersionCheck.Admit(source, Fixture("pytorch_digit_completion_flat.onnx")));
        Assert.Contains("'bottom' gives 32 regression values per row, the fleet's 32 regression values per row, [4, 8] row-major", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AServedOnlyMultiTaskModel_TakesAFileWithItsTasks_AndRefusesOneWhoseTaskHasAnotherShape()
    {
        var shaped = Fixture("pytorch_digit_completion.onnx");
        var source = UploadedClassifier.Open(shaped, new UploadedClassifierOptions(UploadedClassifier.ServeOnly) { Tasks = EdgeMlOps.Shared.Models.ModelTask.Parse("digit:classes,bottom:regression:0.5") });
        Assert.Empty(ServedClassifierVersionCheck.Admit(source, shaped).Values);

        // Read with the fleet's tasks, the flat export's lower half is 32 values without axes: another interface.
        var refused = Assert.Throws<UploadRefusedException>(() => ServedClassifierVersionCheck.Admit(source, Fixture("pytorch_digit_completion_flat.onnx")));
        Assert.Contains("'bottom': 32 regression values per row, weight 0.5, the fleet's 2 tasks", refused.Message, StringComparison.Ordinal);
    }
}
