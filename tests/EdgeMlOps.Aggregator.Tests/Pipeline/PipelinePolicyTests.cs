using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Pipeline;

/// <summary>The pipeline's policy from configuration: every key read, every problem reported with the key the user typed.</summary>
public class PipelinePolicyTests
{
    private static IConfiguration Config(Dictionary<string, string?> values) => new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    [Fact]
    public void ThePolicy_IsReadFromConfiguration()
    {
        var options = AggregatorOptions.FromConfiguration(Config(new()
        {
            ["Aggregator:Governance:Mode"] = "governed",
            ["Aggregator:Pipeline:Enabled"] = "true",
            ["Aggregator:Pipeline:Rounds"] = "5",
            ["Aggregator:Pipeline:Approvals"] = "2",
            ["Aggregator:Pipeline:FreshLabels"] = "10000",
            ["Aggregator:Pipeline:Triggers:DriftFeatures"] = "3, 7",
            ["Aggregator:Pipeline:Triggers:ScheduleHours"] = "168",
            ["Aggregator:Pipeline:Gates:FederatedDevices"] = "50",
            ["Aggregator:Pipeline:Gates:MinTopInputOverlap"] = "0.6",
            ["Aggregator:Pipeline:Rollout:Stages"] = "0.01,0.1,1",
            ["Aggregator:Pipeline:Rollout:ShadowShare"] = "0.01",
        }));
        var p = options.Pipeline;
        Assert.True(p.Enabled);
        Assert.Equal((5, 2, 10000L), (p.Rounds, p.Approvals, p.FreshLabels));
        Assert.Equal([3, 7], p.Triggers.DriftFeatures);
        Assert.Equal(TimeSpan.FromDays(7), p.Triggers.Schedule);
        Assert.Equal(50, p.Gates.FederatedDevices);
        Assert.Equal(0.6, p.Gates.MinTopInputOverlap);
        Assert.Equal([0.01, 0.1, 1.0], p.Rollout.Stages);
        Assert.Equal(0.01, p.Rollout.Shadow?.Share);
    }

    [Fact]
    public void EveryProblem_IsReportedAtOnce_IncludingAPipelineThatCannotRunInAutoMode()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(new()
        {
            ["Aggregator:Pipeline:Enabled"] = "true",
            ["Aggregator:Monitoring:RetrainOn"] = "feature",
        })));
        Assert.Contains(ex.Errors, e => e.StartsWith("Aggregator:Pipeline:Enabled: the retraining pipeline needs Governance:Mode=governed", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.StartsWith("Aggregator:Monitoring:RetrainOn: 'feature' starts rounds of its own", StringComparison.Ordinal));

        var ranges = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(new()
        {
            ["Aggregator:Pipeline:Approvals"] = "3",
            ["Aggregator:Pipeline:Rollout:Stages"] = "0.5,0.1",
            ["Aggregator:Pipeline:Triggers:DriftFeatures"] = "x",
            ["Aggregator:Pipeline:Gate:MaxLatencyRatio"] = "2",
        })));
        Assert.Contains(ranges.Errors, e => e.StartsWith("Aggregator:Pipeline:Approvals: '3' is not an integer", StringComparison.Ordinal));
        Assert.Contains(ranges.Errors, e => e.StartsWith("Aggregator:Pipeline:Triggers:DriftFeatures: 'x' is not a number", StringComparison.Ordinal));
        Assert.Contains(ranges.Errors, e => e.StartsWith("Aggregator:Pipeline:Gate:MaxLatencyRatio: not a setting", StringComparison.Ordinal));
        Assert.Contains(ranges.Errors, e => e.StartsWith("Aggregator:Pipeline:Rollout: stages must be increasing", StringComparison.Ordinal));

        var code = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Pipeline = new EdgeMlOps.Aggregator.Pipeline.PipelinePolicy { Rounds = 0, Rollout = new EdgeMlOps.Aggregator.Rollouts.RolloutRequest { Stages = [0.5, 0.1] } },
        };
        var built = Assert.Throws<OptionsValidationException>(() => new AggregatorNode(code));
        Assert.Contains("Aggregator:Pipeline:Rounds: 0 is not in [1, 1000]", built.Errors);
        Assert.Contains(built.Errors, e => e.StartsWith("Aggregator:Pipeline:Rollout:", StringComparison.Ordinal));
    }
}
