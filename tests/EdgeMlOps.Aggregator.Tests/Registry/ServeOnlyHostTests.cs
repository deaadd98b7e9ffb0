using EdgeMlOps.Tests;

namespace EdgeMlOps.Aggregator.Tests.Registry;

/// <summary>
/// An aggregator host whose model the fleet only serves (a forest with <c>Trainable=none</c>, a model served by tensor
/// names) runs no round — and keeps serving the fleet: broker, API, rollouts. It once exited as soon as the first
/// round said it would not start, so no device could ever install the model.
/// </summary>
public sealed class ServeOnlyHostTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Registry", "Fixtures", name);

    public static TheoryData<string, string[]> ServeOnlyModels => new()
    {
        { "sklearn_forest_wine.onnx", ["--Aggregator:ModelInterface:Trainable=none"] },
        { "pytorch_gru_keyword.onnx", ["--Aggregator:ModelInterface:Kind=tensors", "--Aggregator:ModelInterface:State=h_in>h_out"] },
    };

    [Theory]
    [MemberData(nameof(ServeOnlyModels))]
    public async Task AFleetThatOnlyServesItsModel_KeepsItsAggregatorRunning_AfterRoundsStop(string file, string[] keys)
    {
        var work = AggregatorFixture.TempDirectory();
        using var host = new HostProcess(HostProcess.Aggregator, work,
            ["--Aggregator:HttpUrl=http://127.0.0.1:0", "--Aggregator:EmbeddedBrokerPort=0", "--Aggregator:Model=onnx:" + Fixture(file), .. keys]);
        await host.WaitForAsync("without training it");
        await host.WaitForAsync("still serving the fleet");
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.False(host.Exited, string.Join(Environment.NewLine, host.Lines.TakeLast(5)));
    }
}
