using System.Text.Json;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rounds;

namespace EdgeMlOps.Aggregator.Tests.Rounds;

/// <summary>A round's status is an enum in code and one spelling on the wire and in the registry, as it always was.</summary>
public class RoundStatusTextTests
{
    [Theory]
    [InlineData(RoundStatus.Completed, "completed")]
    [InlineData(RoundStatus.Abandoned, "abandoned")]
    [InlineData(RoundStatus.NotStarted, "notStarted")]
    public void TheStoredText_ReadsBack_WhateverItsCase(RoundStatus status, string text)
    {
        Assert.Equal(text, RoundStatusJsonConverter.Text(status));
        Assert.Equal(status, RoundStatusJsonConverter.Parse(text));
        Assert.Equal(status, RoundStatusJsonConverter.Parse(text.ToUpperInvariant()));
    }

    [Theory]
    [InlineData("finished")]
    [InlineData("7")]
    public void AnythingElse_IsRefused(string text) =>
        Assert.Contains($"'{text}' is not a round status", Assert.Throws<FormatException>(() => RoundStatusJsonConverter.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void InTheApisJson_AStatusIsItsWord()
    {
        var record = new RoundRecord("m", 1, "r1", 1, RoundStatus.Abandoned, 3, 0, 0, 0, null, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);
        var json = JsonSerializer.Serialize(record, new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Contains("\"status\":\"abandoned\"", json, StringComparison.Ordinal);
        Assert.Equal(RoundStatus.Abandoned, JsonSerializer.Deserialize<RoundRecord>(json, new JsonSerializerOptions(JsonSerializerDefaults.Web))!.Status);
    }
}
