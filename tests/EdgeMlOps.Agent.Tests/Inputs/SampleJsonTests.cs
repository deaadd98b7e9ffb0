using System.Text;
using EdgeMlOps.Agent.Inputs;

namespace EdgeMlOps.Agent.Tests.Inputs;

public class SampleJsonTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(784)]
    [InlineData(5000)] // beyond the first pooled scratch buffer: it grows and keeps every value
    public void Features_AreReadInOrder_AtAnyLength(int count)
    {
        var values = Enumerable.Range(0, count).Select(i => i * 0.5f - 7).ToArray();
        var json = "{\"predictionId\":\"p-1\",\"features\":[" + string.Join(',', values.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "],\"label\":3}";
        Assert.True(SampleJson.TryParse(Encoding.UTF8.GetBytes(json), out var features, out var label, out var id, out var error), error);
        Assert.Equal(values, features);
        Assert.Equal(3, label);
        Assert.Equal("p-1", id);
    }

    [Theory]
    [InlineData("""{"features":[1,2,"3"]}""", "features[2] is not a finite number")]
    [InlineData("""{"Features":[1]}""", "unknown field 'Features'")]
    [InlineData("""{"label":1.5}""", "'label' must be an integer")]
    [InlineData("""{"predictionId":7}""", "'predictionId' must be a string")]
    [InlineData("""[1,2]""", "body must be a JSON object")]
    public void BadShapes_SayWhatIsWrong(string json, string expected)
    {
        Assert.False(SampleJson.TryParse(Encoding.UTF8.GetBytes(json), out _, out _, out _, out var error));
        Assert.Equal(expected, error);
    }
}
