using System.Text.Json;
using EdgeMlOps.Aggregator.Rollouts;

namespace EdgeMlOps.Aggregator.Tests.Rollouts;

/// <summary>A gate's verdict is a value the rollout manager acts on by its outcome, and the same text on the wire as before.</summary>
public class GateVerdictTests
{
    [Theory]
    [InlineData("pass", GateOutcome.Pass, "")]
    [InlineData("pass: A/B test (Sequential): the version is more accurate", GateOutcome.Pass, "A/B test (Sequential): the version is more accurate")]
    [InlineData("wait: 1 of 2 targeted devices reported", GateOutcome.Wait, "1 of 2 targeted devices reported")]
    [InlineData("fail: p95 latency 4.50 ms against 2.00 ms", GateOutcome.Fail, "p95 latency 4.50 ms against 2.00 ms")]
    public void TheText_ReadsBackAsTheVerdict_AndIsWrittenTheSame(string text, GateOutcome outcome, string reason)
    {
        var verdict = GateVerdict.Parse(text);
        Assert.Equal(new GateVerdict(outcome, reason), verdict);
        Assert.Equal(text, verdict.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("passed")]
    [InlineData("fail")]
    [InlineData("wait:  ")]
    [InlineData("abort: now")]
    public void TextThatIsNoVerdict_IsRefusedNamingIt(string text)
    {
        var ex = Assert.Throws<FormatException>(() => GateVerdict.Parse(text));
        Assert.Contains($"'{text}' is not a gate verdict", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InTheApisJson_TheVerdictTravelsAsItsText_AndAnythingElseIsRefused()
    {
        var reading = new GateReading(1, 2, 0, null, null, null, null, null, null, 0, 0, GateVerdict.Wait("1 of 2 targeted devices reported"));
        var json = JsonSerializer.Serialize(reading, RolloutJson.Default.Options);
        Assert.Contains("\"verdict\":\"wait: 1 of 2 targeted devices reported\"", json, StringComparison.Ordinal);
        var back = JsonSerializer.Deserialize<GateReading>(json, RolloutJson.Default.Options)!;
        Assert.Equal(GateOutcome.Wait, back.Verdict.Outcome);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<GateReading>(json.Replace("wait: 1", "maybe 1", StringComparison.Ordinal), RolloutJson.Default.Options));
    }
}
