using System.Text.RegularExpressions;

namespace EdgeMlOps.Aggregator.Tests;

/// <summary>
/// The architecture's rules, checked on the source: small classes with one job (at most ~400 lines and ~15 fields in
/// agent/ and aggregator/ unless a reason is written here), the two centres as facades, no "Not started." accessors.
/// </summary>
public partial class ArchitectureTests
{
    private const int MaxLines = 400;
    private const int MaxFields = 15;

    /// <summary>Files allowed over a limit, and why (the same reasons are in docs/ARCHITECTURE.md).</summary>
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal)
    {
        ["agent/EdgeMlOps.Agent/DeviceAgent.cs"] = "the agent's composition root and public facade: one field per service it wires, no logic of its own",
        ["aggregator/EdgeMlOps.Aggregator/AggregatorNode.cs"] = "the aggregator's composition root and public facade: one field per service it wires",
        ["aggregator/EdgeMlOps.Aggregator/Rollouts/RolloutManager.cs"] = "the rollout state machine (shadow, A/B test, stages) with its gates and audit; the plan builder and the gates (stage, shadow, A/B) are already out",
        ["agent/EdgeMlOps.Agent/Http/LocalHttpServer.cs"] = "hand-written HTTP/1.1 server of the AOT agent (size and RSS in docs/BENCHMARKS.md); the side-by-side Kestrel measurement is pending",
    };

    private static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EdgeMlOps.sln"))) dir = dir.Parent;
            return dir!.FullName;
        }
    }

    private static IEnumerable<(string Path, string[] Lines)> Sources() =>
        new[] { "agent", "aggregator" }
            .SelectMany(top => Directory.EnumerateFiles(Path.Combine(Root, top), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => (Path.GetRelativePath(Root, f).Replace('\\', '/'), File.ReadAllLines(f)));

    [GeneratedRegex(@"^\s+(private|protected|internal|public)\s+(readonly\s+|volatile\s+)*[\w<>\[\]?,.() ]+?\s+_\w+\s*(=|;)")]
    private static partial Regex InstanceField();

    [Fact]
    public void NoClassIsOverTheLimits_WithoutAWrittenReason()
    {
        var over = Sources()
            .Select(s => (s.Path, Lines: s.Lines.Length, Fields: s.Lines.Count(l => InstanceField().IsMatch(l) && !l.Contains(" static ", StringComparison.Ordinal) && !l.Contains(" const ", StringComparison.Ordinal))))
            .Where(s => s.Lines > MaxLines || s.Fields > MaxFields)
            .ToList();
        Assert.NotEmpty(Sources());
        var unexplained = over.Where(s => !Exceptions.ContainsKey(s.Path)).Select(s => $"{s.Path}: {s.Lines} lines, {s.Fields} fields").ToList();
        Assert.True(unexplained.Count == 0, "over the limits without a reason: " + string.Join("; ", unexplained));
        var stale = Exceptions.Keys.Where(path => over.All(s => s.Path != path)).ToList();
        Assert.True(stale.Count == 0, "no longer over the limits, remove the exception: " + string.Join("; ", stale));
    }

    [Fact]
    public void TheTwoCentres_AreOneFileFacades_WithoutNotStartedAccessors()
    {
        var sources = Sources().ToList();
        Assert.Single(sources, s => Path.GetFileName(s.Path).StartsWith("DeviceAgent", StringComparison.Ordinal));
        Assert.Single(sources, s => Path.GetFileName(s.Path).StartsWith("AggregatorNode", StringComparison.Ordinal));
        Assert.DoesNotContain(sources, s => s.Lines.Any(l => l.Contains("partial class DeviceAgent", StringComparison.Ordinal) || l.Contains("partial class AggregatorNode", StringComparison.Ordinal)));
        Assert.DoesNotContain(sources, s => s.Lines.Any(l => l.Contains("\"Not started.\"", StringComparison.Ordinal)));
    }

    [Fact]
    public void NoServiceOrEndpointReachesBackIntoTheAggregatorNode()
    {
        // Services, HTTP endpoints included, get what they use from the composition root; none takes the node. The host of
        // the model lines is a composition root itself: it composes a node per line beside the first, as the host does.
        var reaching = Sources()
            .Where(s => !s.Path.EndsWith("AggregatorNode.cs", StringComparison.Ordinal) && !s.Path.EndsWith("Lines/ModelLineHost.cs", StringComparison.Ordinal))
            .Where(s => s.Path.StartsWith("aggregator/EdgeMlOps.Aggregator/", StringComparison.Ordinal))
            .Where(s => s.Lines.Any(l => Regex.IsMatch(l, @"\bAggregatorNode\b") && !l.TrimStart().StartsWith("///", StringComparison.Ordinal)))
            .Select(s => s.Path)
            .ToList();
        Assert.True(reaching.Count == 0, "services that take the node: " + string.Join(", ", reaching));
    }

    /// <summary>
    /// xUnit v2 disposes a test class through IDisposable or IAsyncLifetime and never calls IAsyncDisposable.DisposeAsync:
    /// a test class cleaning up that way left its brokers (Mosquitto processes), aggregators and sockets running for the
    /// rest of the run (two Mosquitto processes per run of ModelLinesMosquittoTests, seen).
    /// </summary>
    [Fact]
    public void NoTestClass_CleansUpThroughIAsyncDisposable_WhichXunitV2NeverCalls()
    {
        var leaking = Directory.EnumerateFiles(Path.Combine(Root, "tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => (Path: Path.GetRelativePath(Root, f), Text: File.ReadAllText(f)))
            .Where(f => f.Text.Contains("[Fact]", StringComparison.Ordinal) || f.Text.Contains("[Theory]", StringComparison.Ordinal))
            .Where(f => TestClassDeclaration().Matches(f.Text).Any(m => m.Value.Contains("IAsyncDisposable", StringComparison.Ordinal) && !m.Value.Contains("IAsyncLifetime", StringComparison.Ordinal)))
            .Select(f => f.Path)
            .ToList();
        Assert.True(leaking.Count == 0, "test classes xUnit v2 never disposes (use IAsyncLifetime): " + string.Join(", ", leaking));
    }

    [GeneratedRegex(@"public\s+(sealed\s+)?(partial\s+)?class\s+\w+Tests\b[^{\n]*")]
    private static partial Regex TestClassDeclaration();
}
