namespace EdgeMlOps.Simulator.Tests;

/// <summary>The simulator's command line: a mistyped option names the one meant, and the usage text and the parser agree.</summary>
public class SimulationOptionsTests
{
    private static string[] Problems(params string[] args) =>
        Assert.Throws<ArgumentException>(() => SimulationOptions.Parse(args)).Message.Split(Environment.NewLine);

    [Fact]
    public void AMistypedOption_NamesTheNearestRealOne_AndAStrangeOneOnlySaysUnknown()
    {
        Assert.Equal(["--devcies: unknown option; did you mean --devices?", "--local-epoch: unknown option; did you mean --local-epochs?", "--bogus: unknown option"],
            Problems("--devcies", "3", "--local-epoch", "2", "--bogus", "1"));
    }

    [Fact]
    public void EveryOptionTheUsageDocuments_IsOneTheParserKnows()
    {
        Assert.True(SimulationOptions.DocumentedOptions.Count > 40, $"{SimulationOptions.DocumentedOptions.Count} options read from the usage text");
        foreach (var option in SimulationOptions.DocumentedOptions.Where(o => o is not "--help"))
        {
            string[] problems;
            try
            {
                SimulationOptions.Parse([option, "1"]);
                continue;
            }
            catch (ArgumentException ex)
            {
                problems = ex.Message.Split(Environment.NewLine);
            }

            Assert.DoesNotContain(problems, p => p.StartsWith(option + ": unknown option", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("synchronous", EdgeMlOps.Aggregator.RoundMode.Synchronous)]
    [InlineData("buffered", EdgeMlOps.Aggregator.RoundMode.Buffered)]
    [InlineData("sync", EdgeMlOps.Aggregator.RoundMode.Synchronous)]
    [InlineData("fedbuff", EdgeMlOps.Aggregator.RoundMode.Buffered)]
    public void TheMode_TakesTheWordsOfRoundsMode_AndItsOlderOnes(string word, EdgeMlOps.Aggregator.RoundMode mode) =>
        Assert.Equal(mode, SimulationOptions.Parse(["--mode", word]).Mode);

    [Fact]
    public void AnotherMode_IsRefused() =>
        Assert.Equal(["--mode: 'async' is not synchronous or buffered"], Problems("--mode", "async"));

    [Fact]
    public void TheOptimizer_IsOneDevicesRun_OnAModelFile()
    {
        Assert.Equal(EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Sgd, SimulationOptions.Parse([]).Optimizer);
        Assert.Equal(EdgeMlOps.Shared.Onnx.Training.DeviceOptimizer.Adam, SimulationOptions.Parse(["--optimizer", "adam", "--model-file", "m.onnx"]).Optimizer);
        Assert.Equal(["--optimizer: 'nadam' is not sgd, momentum or adam"], Problems("--optimizer", "nadam", "--model-file", "m.onnx"));
        Assert.Equal(["--optimizer: trains a --model-file; add one"], Problems("--optimizer", "momentum"));
    }

    [Fact]
    public void TheLoopBound_IsOneToMaxIterations_OnAModelFile()
    {
        Assert.Null(SimulationOptions.Parse([]).MaxLoopTrips);
        Assert.Equal(16, SimulationOptions.Parse(["--max-loop-trips", "16", "--model-file", "m.onnx"]).MaxLoopTrips);
        Assert.Equal(["--max-loop-trips: 2000 is over the 1024 iterations a loop is unrolled into"], Problems("--max-loop-trips", "2000", "--model-file", "m.onnx"));
        Assert.Equal(["--max-loop-trips: bounds a loop of a --model-file; add one"], Problems("--max-loop-trips", "8"));
    }
}
