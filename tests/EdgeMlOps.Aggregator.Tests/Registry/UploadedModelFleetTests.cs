using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Hashing;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using Google.Protobuf;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// An aggregator whose model is an uploaded ONNX file (<c>Aggregator:Model=onnx:PATH</c>): configured by the keys the
/// operator types, version 1 stored and signed as the file's own bytes with its interface in the manifest, resumed
/// after a restart only under the same interface, and new versions uploaded only as that file with new trained values.
/// </summary>
public sealed class UploadedModelFleetTests
{
    private static readonly string Cnn = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_cnn_digits04.onnx");

    private static AggregatorOptions Read(Dictionary<string, string?> values) =>
        AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());

    private static AggregatorOptions Options(string dir, string trainable = "last:1")
    {
        var source = UploadedClassifier.Open(File.ReadAllBytes(Cnn), new UploadedClassifierOptions(trainable));
        return AggregatorFixture.Options(dir, clients: 1) with { ModelName = "digits", Model = source.Spec, ModelSource = source };
    }

    [Fact]
    public void TheModelKey_TakesAnOnnxFile_AndItsInterfaceKeys()
    {
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + Cnn, ["Aggregator:ModelInterface:Trainable"] = "last:2", ["Aggregator:ModelInterface:Optimizer"] = "momentum" });
        var graph = options.Model.Graph!;
        Assert.Same(options.ModelSource!.Spec, options.Model);
        Assert.Equal(4, graph.Trained.Count); // the last convolution's weight and bias, then the head's
        Assert.Equal(["head.weight", "head.bias"], graph.Trained.Skip(2).Select(t => t.Name));
        Assert.Equal(ContentHash.Sha256Hex(File.ReadAllBytes(Cnn)), graph.SourceSha256);
        Assert.Contains("head.weight.velocity", ClassifierGraphs.Parse(options.ModelSource.TrainStep).Graph.Input.Select(i => i.Name));

        var missing = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:no-such.onnx" }));
        Assert.Contains(missing.Errors, e => e.StartsWith("Aggregator:Model: 'no-such.onnx':", StringComparison.Ordinal));
        var badTrainable = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + Cnn, ["Aggregator:ModelInterface:Trainable"] = "backbone.9.weight" }));
        Assert.Contains(badTrainable.Errors, e => e.Contains("backbone.9.weight", StringComparison.Ordinal));
        var badOptimizer = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + Cnn, ["Aggregator:ModelInterface:Optimizer"] = "lbfgs" }));
        Assert.Contains("Aggregator:ModelInterface:Optimizer: 'lbfgs' is not sgd, momentum or adam", badOptimizer.Errors);
        var notASpec = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "cnn-784-10" }));
        Assert.Contains(notASpec.Errors, e => e.Contains("onnx:PATH", StringComparison.Ordinal));
    }

    [Fact]
    public void TheInputKey_NamesTheFeaturesOfAModelWithSeveralInputs_TheOthersAreContext_AndTheCardSaysSo()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_diabetes_two_inputs.onnx");
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + file, ["Aggregator:ModelInterface:Kind"] = "regression", ["Aggregator:ModelInterface:Trainable"] = "all", ["Aggregator:ModelInterface:Input"] = "measurements" });
        var graph = options.Model.Graph!;
        Assert.Equal(("measurements", 10), (graph.FeaturesInput, options.Model.InputDim));
        Assert.Equal("sex:int64[1]", Assert.Single(graph.ContextInputs).CanonicalText);
        var card = EdgeMlOps.Aggregator.Governance.InterfaceCardSection.For(options.ModelSource!.Bytes, options.ModelSource.TrainStep, options.Model);
        Assert.Contains(card.Rows!, r => r[0] == "served as" && r[2].Contains("each sample also carries the context inputs 'sex' int64 [1] after its 9 features (10 values per row", StringComparison.Ordinal));
        Assert.Contains(card.Rows!, r => r[0] == "trained" && r[2].Contains("sex_embedding.weight", StringComparison.Ordinal));

        var unnamed = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + file, ["Aggregator:ModelInterface:Kind"] = "regression" }));
        Assert.Contains(unnamed.Errors, e => e.Contains("the graph has 2 inputs (measurements, sex): name the features input (the others become context inputs)", StringComparison.Ordinal));
    }

    [Fact]
    public void TheKindKey_ServesAModelByTensorNames_AndRefusesKeysThatDoNotApply()
    {
        var gru = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_gru_keyword.onnx");
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:State"] = "h_in>h_out", ["Aggregator:ModelInterface:Outputs"] = "score,h_out" });
        Assert.Equal([("h_in", "h_out")], options.Model.Graph!.Tensors!.States);
        Assert.Same(options.ModelSource!.Spec, options.Model);

        var errors = Assert.Throws<OptionsValidationException>(() => Read(new()
        {
            ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:Trainable"] = "all", ["Aggregator:ModelInterface:State"] = "h_in",
        })).Errors;
        Assert.Contains("Aggregator:ModelInterface:Trainable: does not apply to ModelInterface:Kind=tensors (served by tensor names, not trained)", errors);
        Assert.Contains("Aggregator:ModelInterface:State: 'h_in' is not INPUT>OUTPUT", errors);
        var kind = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "regressor" })).Errors;
        Assert.Contains("Aggregator:ModelInterface:Kind: 'regressor' is not classifier, regression, multilabel, positions, multitask or tensors", kind);
        var mismatch = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + gru, ["Aggregator:ModelInterface:Kind"] = "tensors", ["Aggregator:ModelInterface:State"] = "frames>h_out" })).Errors;
        Assert.Contains(mismatch, e => e.Contains("state frames>h_out", StringComparison.Ordinal) && e.Contains("same fixed shape", StringComparison.Ordinal));
        // A classifier may carry state too (a streaming classifier), through a context input: the CNN has none.
        var onAClassifier = Assert.Throws<OptionsValidationException>(() => Read(new() { ["Aggregator:Model"] = "onnx:" + Cnn, ["Aggregator:ModelInterface:State"] = "a>b" })).Errors;
        Assert.Contains(onAClassifier, e => e.StartsWith("Aggregator:Model:", StringComparison.Ordinal) && e.Contains("state a>b: 'a' is not a context input", StringComparison.Ordinal));
    }

    [Fact]
    public async Task VersionOne_IsTheFileByteForByte_SignedWithItsInterface_AndResumesOnlyUnderTheSameOne()
    {
        var dir = AggregatorFixture.TempDirectory();
        var file = await File.ReadAllBytesAsync(Cnn);
        await using (var node = new AggregatorNode(Options(dir)))
        {
            var v1 = node.CurrentVersion;
            Assert.Equal(ContentHash.Sha256Hex(file), v1.InferenceSha256);
            Assert.Equal(file, node.Artifacts.Read(v1.InferenceSha256));
            var (manifest, _) = node.SignManifest(v1);
            Assert.Equal(node.Options.Model, ModelArchitectures.ToSpec(manifest.Architecture));
            Assert.Equal(["head.weight", "head.bias"], manifest.Architecture.Graph.Trained.Select(t => t.Name));

            // The card says what is served and what trains, read from the stored artifacts.
            var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, v1, artifacts: node.Artifacts).Markdown;
            Assert.Contains($"| served as | uploaded graph | the file {ContentHash.Sha256Hex(file)} with new values in its trained tensors only", card, StringComparison.Ordinal);
            Assert.Contains("| input | features | float [batch, 1, 28, 28] |", card, StringComparison.Ordinal);
            Assert.Contains("| trained | 2 tensors, 5,770 values | head.weight float [10, 576], head.bias float [10] |", card, StringComparison.Ordinal);
            Assert.Contains("Conv ×2", card, StringComparison.Ordinal);
        }

        await using (var resumed = new AggregatorNode(Options(dir)))
        {
            Assert.Equal(1UL, resumed.CurrentVersion.Version);
        }

        var other = Assert.Throws<InvalidOperationException>(() => new AggregatorNode(Options(dir, trainable: "last:2")));
        Assert.Contains("Registry holds model 'digits' as onnx-784-10-", other.Message);
    }

    [Fact]
    public void ANewVersion_IsAdmittedOnlyAsTheSameFileWithNewTrainedValues()
    {
        var source = Options(AggregatorFixture.TempDirectory()).ModelSource!;
        var weights = source.InitialWeights().Clone();
        weights.Values[0] += 0.5f;
        var retrained = source.InferenceBytes(weights);
        Assert.Equal(weights.Values, UploadedGraphCheck.AdmitVersionOf(source, retrained).Values);

        // The backbone changed too: that is another graph, not a new version of this one.
        var model = ClassifierGraphs.Parse(retrained);
        var frozen = model.Graph.Initializer.First(t => t.Name != "head.weight" && t.Name != "head.bias" && t.Dims.Count > 1);
        var values = new float[frozen.Dims.Aggregate(1L, (a, d) => a * d)];
        OnnxTensors.ReadFloats(frozen, values);
        values[0] += 1f;
        frozen.FloatData.Clear();
        frozen.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        var refused = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.AdmitVersionOf(source, model.ToByteArray()));
        Assert.Contains("beyond the values of its trained tensors (head.weight, head.bias)", refused.Message);

        var alien = Assert.Throws<UploadRefusedException>(() => UploadedGraphCheck.AdmitVersionOf(source, ClassifierGraphs.BuildInference(ModelWeights.Initialize(AggregatorFixture.Spec, 1)).ToByteArray()));
        Assert.Contains("does not carry its trained tensors", alien.Message);
    }

    /// <summary>
    /// The workflow the refusal itself recommends: take version 1's artifact (the user's PyTorch file), write new values
    /// into its head in place (as Python's onnx package does), upload. It was refused "beyond the values of its trained
    /// tensors": the check compared the upload with this process's own serialization of the graph, whose bytes differ
    /// from the exporter's even where nothing changed. The new version is admitted, and served as the uploaded bytes.
    /// </summary>
    [Fact]
    public async Task TheFirstVersionsFile_WithNewHeadValuesWrittenInPlace_IsAdmitted_AndServedAsUploaded()
    {
        var original = File.ReadAllBytes(Cnn);
        var edited = (byte[])original.Clone();
        foreach (var name in new[] { "head.weight", "head.bias" })
        {
            var raw = ClassifierGraphs.Parse(original).Graph.Initializer.Single(t => t.Name == name).RawData.ToByteArray();
            var at = edited.AsSpan().IndexOf(raw);
            Assert.True(at > 0 && edited.AsSpan(at + 1).IndexOf(raw) < 0, $"{name}'s bytes are found once in the file");
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(edited.AsSpan(at, raw.Length));
            for (var i = 0; i < values.Length; i++) values[i] += 0.01f * ((i % 7) - 3);
        }

        var options = Options(AggregatorFixture.TempDirectory()) with
        {
            HttpUrl = "http://127.0.0.1:0",
            Governance = new EdgeMlOps.Aggregator.Governance.GovernanceOptions
            {
                Identities = [new EdgeMlOps.Aggregator.Governance.AdminIdentity("dana", EdgeMlOps.Aggregator.Governance.AdminIdentity.HashToken("dana-token"), new HashSet<string> { EdgeMlOps.Aggregator.Governance.AdminRoles.Scientist })],
            },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/models/digits/versions?reason=head%20retrained%20offline") { Content = new ByteArrayContent(edited) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "dana-token");
        using var response = await http.SendAsync(request);

        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var v2 = node.Registry.Versions("digits").Single(v => v.Version == 2);
        Assert.Equal(edited, node.Artifacts.Read(v2.InferenceSha256)); // byte for byte, as uploaded
        Assert.Equal(original, node.Artifacts.Read(node.Registry.Versions("digits").Single(v => v.Version == 1).InferenceSha256));
    }

    [Fact]
    public async Task AForestServedOnly_IsSignedWithoutATrainStep_AndRunsNoRound()
    {
        var forest = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "sklearn_forest_wine.onnx");
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + forest, ["Aggregator:ModelInterface:Trainable"] = "none" }) with
        {
            DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0",
        };
        Assert.False(options.Model.Trainable);
        Assert.False(options.Model.Graph!.ScoresAreLogits); // a TreeEnsembleClassifier's scores are probabilities

        await using var node = new AggregatorNode(options);
        var v1 = node.CurrentVersion;
        Assert.Equal(await File.ReadAllBytesAsync(forest), node.Artifacts.Read(v1.InferenceSha256));
        Assert.Equal(string.Empty, v1.TrainStepSha256);
        var (manifest, envelope) = node.SignManifest(v1);
        Assert.Equal([Shared.Trust.ManifestRules.InferenceArtifact], manifest.Artifacts.Select(a => a.Name));
        Assert.True(Shared.Trust.ManifestRules.MatchesAnnouncement(manifest, Shared.Trust.ManifestRules.ToAnnouncement(manifest, envelope, "https://a/")).Ok);

        await node.StartAsync(CancellationToken.None);
        var round = await node.RunRoundAsync(CancellationToken.None);
        Assert.Equal(EdgeMlOps.Aggregator.Rounds.RoundStatus.Stopped, round.Status);
        Assert.Contains("ModelInterface:Trainable=none", round.StopReason, StringComparison.Ordinal);
        var card = EdgeMlOps.Aggregator.Governance.ModelCard.Build(node.Registry, node.Options, node.Monitor, v1, artifacts: node.Artifacts).Markdown;
        Assert.Contains("| Train-step artifact | none: the fleet serves this model without training it |", card, StringComparison.Ordinal);
        Assert.Contains("TreeEnsembleClassifier ×1", card, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AForestServedOnly_TakesItsRetrainedFileAsTheNextVersion_EvaluatedAndStoredByteForByte_AndRefusesAnotherInterface()
    {
        var fixtures = Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures");
        var forest = Path.Combine(fixtures, "sklearn_forest_wine.onnx");
        using var expected = System.Text.Json.JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(fixtures, "sklearn_forest_expected.json")));
        var heldOut = new EdgeMlOps.Aggregator.Evaluation.HeldOutEvaluator(
            expected.RootElement.GetProperty("features").EnumerateArray().Select(e => e.GetSingle()).ToArray(),
            expected.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray());
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + forest, ["Aggregator:ModelInterface:Trainable"] = "none" }) with
        {
            DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0",
        };
        await using var node = new AggregatorNode(options, evaluator: heldOut);
        await node.StartAsync(CancellationToken.None);
        Assert.Equal(expected.RootElement.GetProperty("accuracy").GetDouble(), node.CurrentVersion.EvalAccuracy!.Value, 9);

        // The forest retrained in scikit-learn (16 trees, another seed): the next version, the file itself, evaluated on the same rows as scikit-learn scores it.
        var retrained = await File.ReadAllBytesAsync(Path.Combine(fixtures, "sklearn_forest_wine_v2.onnx"));
        var v2 = await node.RegisterFileAsync(retrained, "dana", "retrained with 16 trees", CancellationToken.None);
        Assert.Equal((2UL, EdgeMlOps.Shared.Hashing.ContentHash.Sha256Hex(retrained), string.Empty), (v2.Version, v2.InferenceSha256, v2.TrainStepSha256));
        Assert.Equal(retrained, node.Artifacts.Read(v2.InferenceSha256));
        Assert.Equal(expected.RootElement.GetProperty("accuracy_v2").GetDouble(), v2.EvalAccuracy!.Value, 9);
        Assert.Equal("dana", v2.CreatedBy);
        var (manifest, _) = node.SignManifest(v2);
        Assert.Equal([Shared.Trust.ManifestRules.InferenceArtifact], manifest.Artifacts.Select(a => a.Name));

        // Another interface is another model: refused saying what differs, nothing registered.
        var detector = await File.ReadAllBytesAsync(Path.Combine(fixtures, "pytorch_binary_detector.onnx"));
        var refused = await Assert.ThrowsAsync<UploadRefusedException>(() => node.RegisterFileAsync(detector, "dana", "wrong file", CancellationToken.None));
        Assert.Contains("the graph has no output 'probabilities'", refused.Message, StringComparison.Ordinal);
        var twoClasses = ClassifierGraphs.Parse(retrained);
        twoClasses.Graph.Output.Single(o => o.Name == "probabilities").Type.TensorType.Shape.Dim[1].DimValue = 2;
        refused = await Assert.ThrowsAsync<UploadRefusedException>(() => node.RegisterFileAsync(twoClasses.ToByteArray(), "dana", "two classes", CancellationToken.None));
        Assert.Contains("'probabilities' scores 2 classes as probabilities, the fleet's 3 as probabilities", refused.Message, StringComparison.Ordinal);
        var wider = ClassifierGraphs.Parse(retrained);
        wider.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue = 14;
        refused = await Assert.ThrowsAsync<UploadRefusedException>(() => node.RegisterFileAsync(wider.ToByteArray(), "dana", "wider", CancellationToken.None));
        Assert.Contains("samples [14] into 'features', the fleet's are [13]", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2UL, node.Registry.Latest(options.ModelName)!.Version);
    }

    [Fact]
    public async Task AModelTheFleetTrains_TakesNoNewFileAsAVersion()
    {
        var options = Read(new() { ["Aggregator:Model"] = "onnx:" + Cnn, ["Aggregator:ModelInterface:Trainable"] = "last:1" }) with
        {
            DataDirectory = AggregatorFixture.TempDirectory(), EmbeddedBrokerPort = 0, HttpUrl = "http://127.0.0.1:0",
        };
        await using var node = new AggregatorNode(options);
        var file = await File.ReadAllBytesAsync(Cnn);
        var refused = await Assert.ThrowsAsync<UploadRefusedException>(() => node.RegisterFileAsync(file, "dana", "same file", CancellationToken.None));
        Assert.Contains("this fleet trains its model", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AFileOnnxRuntimeCannotRunAsDeclared_StopsTheAggregatorBeforeAnyDeviceGetsIt()
    {
        // The CNN without its final Softmax, declared as probabilities: its rows do not sum to 1.
        var model = ClassifierGraphs.Parse(File.ReadAllBytes(Cnn));
        var softmax = model.Graph.Node.Single(n => n.OpType == "Softmax");
        model.Graph.Node.Remove(softmax);
        model.Graph.Node.Add(new Shared.Onnx.Proto.NodeProto { OpType = "Identity", Input = { softmax.Input[0] }, Output = { softmax.Output[0] } });
        var unnormalized = UploadedClassifier.Open(model.ToByteArray(), new UploadedClassifierOptions("last:1") { ScoresAreLogits = false });
        var ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), 1) with { Model = unnormalized.Spec, ModelSource = unnormalized }));
        Assert.Contains(ex.Errors, e => e.StartsWith("Aggregator:Model: the file ", StringComparison.Ordinal) && e.Contains("is read as probabilities but probe row 0 sums to", StringComparison.Ordinal) && e.Contains("ModelInterface:Scores=logits", StringComparison.Ordinal));

        // A binary classifier's logit declared a probability: probe rows score outside [0, 1].
        var logit = UploadedClassifier.Open(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", "pytorch_binary_logit.onnx")), new UploadedClassifierOptions("all") { ScoresAreLogits = false });
        ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), 1) with { Model = logit.Spec, ModelSource = logit }));
        Assert.Contains(ex.Errors, e => e.Contains("'score' is read as a probability but probe row", StringComparison.Ordinal) && e.Contains("ModelInterface:Scores=logits", StringComparison.Ordinal));

        // An operator ONNX Runtime does not have: well formed, but no device could load it.
        var unknown = ClassifierGraphs.Parse(File.ReadAllBytes(Cnn));
        unknown.Graph.Node.First(n => n.OpType == "Relu").OpType = "Swish17";
        var alien = UploadedClassifier.Open(unknown.ToByteArray(), new UploadedClassifierOptions("last:1"));
        ex = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(AggregatorFixture.Options(AggregatorFixture.TempDirectory(), 1) with { Model = alien.Spec, ModelSource = alien }));
        Assert.Contains(ex.Errors, e => e.Contains("ONNX Runtime cannot load it", StringComparison.Ordinal) && e.Contains("Swish17", StringComparison.Ordinal));
    }
}
