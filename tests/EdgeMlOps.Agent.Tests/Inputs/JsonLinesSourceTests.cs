using EdgeMlOps.Agent.Inputs;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Inputs;

public class JsonLinesSourceTests
{
    [Fact]
    public async Task Pump_LearnsLabelledLines_PredictsTheRest_SkipsAndCountsBadLines()
    {
        await using var device = await OfflineAgent.StartAsync();
        var input = new StringReader(string.Join('\n',
            """{"features":[1,2,3,4],"label":1}""",
            """{"features":[0.5,0.5,0.5,0.5]}""",
            "not json",
            "",
            """{"features":[1,2],"label":0}""",
            """{"label":2}""",
            """{"features":[4,3,2,1],"label":2}"""));
        var source = new JsonLinesSource(input);
        var output = new StringWriter();
        var pump = new InputPump(device.Agent, source, NullLogger.Instance, output);

        await pump.RunAsync(CancellationToken.None);

        Assert.Equal(2, source.BadLines); // "not json" and the line without features
        Assert.Contains("line 6", source.LastError, StringComparison.Ordinal);
        // The 2-feature sample is stored (feedback does not know the model) but cannot be used for training.
        Assert.Equal(3, pump.Learned);
        Assert.Equal(1, pump.Predicted);
        Assert.Equal(2, device.Store.LoadSamples(4).Count);
        var line = output.ToString().Trim();
        Assert.StartsWith("{\"predictionId\":", line, StringComparison.Ordinal);
        Assert.Contains("\"modelVersion\":3", line, StringComparison.Ordinal);
    }
}
