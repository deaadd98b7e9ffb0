using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Aggregator.Explanations;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Registry;
using EdgeMlOps.Aggregator.Rollouts;
using EdgeMlOps.Shared.Models;
using Spectre.Console.Testing;

namespace EdgeMlOps.Aggregator.Tests.Explanations;

/// <summary>
/// Versions explained on the held-out data of a governed node: stored with the version, shown in the card, and the
/// explainability gate holding a candidate that relies on different inputs than the live version.
/// </summary>
public sealed class VersionExplanationTests
{
    /// <summary>
    /// Held-out rows whose label is input 0 above 0.5; input 3 is a copy of input 0, inputs 1 and 2 are noise; a declared
    /// attribute "band" is "low" where input 0 is below 0.25 (all class 0 there).
    /// </summary>
    private static HeldOutEvaluator HeldOut()
    {
        var random = new Random(9);
        var features = new float[300 * 4];
        var labels = new long[300];
        for (var i = 0; i < 300; i++)
        {
            for (var j = 0; j < 3; j++) features[i * 4 + j] = (float)random.NextDouble();
            features[i * 4 + 3] = features[i * 4];
            labels[i] = features[i * 4] > 0.5f ? 1 : 0;
        }

        var attributes = Enumerable.Range(0, 300).Select(i => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { ["band"] = features[i * 4] < 0.25f ? "low" : "rest" }).ToArray();
        return new HeldOutEvaluator(features, labels, attributes: attributes);
    }

    /// <summary>mlp-4-3-2 answering class 1 exactly when input <paramref name="input"/> is above 0.5 (through hidden unit 0).</summary>
    private static ModelWeights RelyingOn(int input, float sharpness = 10)
    {
        var weights = new ModelWeights(AggregatorFixture.Spec, new float[23]);
        weights.Values[input * 3] = sharpness; // layer0.weight[input, 0]
        weights.Values[15 + 1] = 1;            // layer1.weight[0, 1]
        weights.Values[21 + 1] = -sharpness / 2; // layer1.bias[1]
        return weights;
    }

    private static async Task<AggregatorNode> GovernedNodeAsync(double minOverlap)
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1) with
        {
            Governance = new GovernanceOptions
            {
                Mode = DeploymentMode.Governed,
                RolloutCheckInterval = TimeSpan.FromHours(1),
                Explain = new ExplanationOptions { TopInputs = 1, MinTopInputOverlap = minOverlap, Repeats = 5, DependenceInputs = 2 },
                Identities = [new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer })],
            },
        };
        var node = new AggregatorNode(options, evaluator: HeldOut());
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    /// <summary>Registers and deploys (approved by another person, full rollout) a version relying on input 0.</summary>
    private static async Task<ModelVersionRecord> DeployRelyingOnInput0Async(AggregatorNode node)
    {
        var live = await node.RegisterVersionAsync(RelyingOn(0), "dana", "input 0 model", CancellationToken.None);
        Assert.Equal(VersionStates.Validated, live.State);
        node.Governance.Approve("alice", "tiny", live.Version, "reviewed");
        var rollout = await node.Rollouts.CreateAsync("bob", new RolloutRequest { Version = live.Version, Stages = [1.0] }, CancellationToken.None);
        await node.Rollouts.AdvanceAsync("bob", rollout.Id, "go", CancellationToken.None);
        Assert.Equal(live.Version, node.DeployedVersion!.Version);
        return live;
    }

    [Fact]
    public async Task ACandidateRelyingOnAnotherInput_WithTheSameAccuracy_IsHeldForReview_WithTheInputsNamed()
    {
        await using var node = await GovernedNodeAsync(minOverlap: 1.0);
        var live = await DeployRelyingOnInput0Async(node);

        var swapped = await node.RegisterVersionAsync(RelyingOn(3), "dana", "input 3 model", CancellationToken.None);
        Assert.Equal(VersionStates.Candidate, swapped.State);
        Assert.Contains("top 1 inputs by permutation importance changed", swapped.StateReason, StringComparison.Ordinal);
        Assert.Contains("now 3, before 0", swapped.StateReason, StringComparison.Ordinal);

        // The same reliance with a different weight passes: the gate is about what a version uses, not its numbers.
        var same = await node.RegisterVersionAsync(RelyingOn(0, sharpness: 14), "dana", "sharper input 0 model", CancellationToken.None);
        Assert.Equal(VersionStates.Validated, same.State);

        // Both explanations were stored with their versions and are read back, not recomputed.
        var stored = node.Explainer.Stored(node.Registry.Version("tiny", live.Version)!)!;
        Assert.Equal(0, stored.Top(1)[0].Input);
        Assert.Equal(1.0, stored.BaselineAccuracy);
        Assert.InRange(stored.Importance[0].Mean, 0.3, 0.7); // shuffling the one input used loses about half the answers
        Assert.Equal(0.0, stored.Importance[1].Mean);
        Assert.Equal(3, node.Explainer.Stored(swapped)!.Top(1)[0].Input);
    }

    [Fact]
    public async Task WithTheGateOff_TheSameCandidateIsValidated()
    {
        await using var node = await GovernedNodeAsync(minOverlap: 0);
        await DeployRelyingOnInput0Async(node);
        var swapped = await node.RegisterVersionAsync(RelyingOn(3), "dana", "input 3 model", CancellationToken.None);
        Assert.Equal(VersionStates.Validated, swapped.State);
        Assert.Null(node.Explainer.Stored(swapped)); // nothing asked for it yet: computed on first use only
    }

    [Fact]
    public async Task TheModelCard_ShowsImportanceAndPartialDependence_WithCharts()
    {
        await using var node = await GovernedNodeAsync(minOverlap: 0);
        var version = await node.RegisterVersionAsync(RelyingOn(0), "dana", "input 0 model", CancellationToken.None);
        var explanation = node.Explainer.For(version)!;
        Assert.Equal(2, explanation.Dependence.Count);
        var curve = explanation.Dependence.Single(c => c.Input == 0);
        Assert.InRange(curve.PlottedClass, 0, 1); // both classes move equally (two classes); either is a faithful plot
        var p1 = curve.Average.Select(p => p[1]).ToArray();
        Assert.True(p1[0] < 0.1 && p1[^1] > 0.9, "P(class 1) rises from ~0 to ~1 across input 0's range");

        var card = ModelCard.Build(node.Registry, node.Options, node.Drift.Monitor, version, explanation);
        Assert.Contains("## Explanations", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("| 1 | 0 |", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("█", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("| PDP | 0 |", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("aria-label=\"Permutation importance\"", card.Html, StringComparison.Ordinal);
        Assert.Contains("aria-label=\"Partial dependence on input 0\"", card.Html, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(card.Html, "aria-label=\"Partial dependence on input")); // drawn by ScottPlot, one per curve

        // Subpopulations: per class and per declared attribute value, with the gaps between an attribute's groups.
        Assert.Contains("## Subpopulations", card.Markdown, StringComparison.Ordinal);
        var low = explanation.Subgroups.Single(g => g.Group == "band=low");
        Assert.Equal((1.0, 1.0), (low.Accuracy, low.MacroRecall)); // only class 0 present there, all right
        Assert.Equal(0.0, low.SelectionRate); // nobody in the low band is predicted class 1
        var selection = explanation.Gaps.Single(g => g.Attribute == "band" && g.Metric == "selection rate");
        Assert.Equal(("band=low", "band=rest"), (selection.Lowest, selection.Highest));
        Assert.InRange(selection.Gap, 0.55, 0.8); // about two thirds of the rest are above 0.5
        Assert.Contains("Gap in selection rate across band:", card.Markdown, StringComparison.Ordinal);
        Assert.Contains("| band=low |", card.Markdown, StringComparison.Ordinal);

        // The same explanation from the command line: input 0 first, the selection-rate gap named.
        var console = new TestConsole().Width(200);
        var exit = await EdgeMlOps.Cli.Cli.RunAsync(["models", "explain", version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), "--top", "2",
            "--url", node.ArtifactBaseUrl.ToString(), "--token", "carol-token", "--model", "tiny"], console);
        Assert.Equal(0, exit);
        var lines = console.Lines.Where(l => l.StartsWith("│ ", StringComparison.Ordinal)).ToArray();
        Assert.StartsWith("│ 0 ", lines[1], StringComparison.Ordinal); // header, then the most important input
        Assert.Contains(lines, l => l.Contains("band", StringComparison.Ordinal) && l.Contains("selection rate", StringComparison.Ordinal));
    }
}
