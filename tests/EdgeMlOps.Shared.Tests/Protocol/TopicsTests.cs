using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Shared.Tests.Protocol;

public class TopicsTests
{
    [Fact]
    public void DeviceTopics_RoundTrip()
    {
        var topics = new Topics("plant-7");
        Assert.Equal("edgemlops/v1/plant-7/devices/dev-1/update", topics.Update("dev-1"));
        Assert.True(topics.TryParseDeviceTopic(topics.Update("dev-1"), out var id, out var kind));
        Assert.Equal(("dev-1", "update"), (id, kind));
        Assert.Equal("edgemlops/v1/plant-7/devices/+/status", topics.AllDevices("status"));
    }

    [Theory]
    [InlineData("edgemlops/v1/other/devices/a/update")]
    [InlineData("edgemlops/v1/plant-7/devices/a")]
    [InlineData("edgemlops/v1/plant-7/devices/a/b/c")]
    [InlineData("edgemlops/v1/plant-7/model")]
    public void TryParseDeviceTopic_RejectsForeignTopics(string topic) =>
        Assert.False(new Topics("plant-7").TryParseDeviceTopic(topic, out _, out _));

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a+")]
    [InlineData("#")]
    [InlineData("$SYS")]
    public void InvalidFleetNames_AreRefused(string fleet) =>
        Assert.Throws<ArgumentException>(() => new Topics(fleet));

    [Theory]
    [InlineData("mlp-784-128-10")]
    [InlineData("mlp-20-64-32-5")]
    [InlineData("logreg-784-10")]
    public void ModelSpecText_RoundTrips(string text) => Assert.Equal(text, ModelSpecText.Parse(text).ToString());

    [Theory]
    [InlineData("cnn-1-2")]
    [InlineData("mlp-784-x-10")]
    [InlineData("mlp-784")]
    [InlineData("mlp-784-0-10")]
    public void ModelSpecText_RejectsBadText(string text) => Assert.ThrowsAny<Exception>(() => ModelSpecText.Parse(text));
}
