using EdgeMlOps.Agent.Lines;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Tests.Lines;

/// <summary>Which of the fleet's model lines a device runs: its cohort, then its memory budget, in catalogue order.</summary>
public sealed class LineAssignmentTests
{
    private static ModelLine Line(string name, int memoryMb, params (string Tag, string[] Values)[] cohort)
    {
        var line = new ModelLine { Name = name, MemoryRequestBytes = (ulong)memoryMb << 20 };
        foreach (var (tag, values) in cohort) line.Cohort[tag] = new CohortValues { Values = { values } };
        return line;
    }

    [Fact]
    public void LinesRunInCatalogueOrder_WhileTheirRequestsFitTheBudget_ALaterSmallerOneStillFits()
    {
        var catalogue = new ModelCatalogue { Fleet = "plant", Lines = { Line("detector", 300), Line("kws", 300), Line("anomaly", 100), Line("camera", 64, ("camera", ["yes"])) } };
        var states = LineAssignment.Decide(catalogue, new Dictionary<string, string> { ["camera"] = "no" }, 512L << 20);
        Assert.Equal(["detector", "kws", "anomaly", "camera"], states.Select(s => s.Name));
        Assert.Equal([true, false, true, false], states.Select(s => s.Runs));
        Assert.Equal("needs 300 MiB; 212 MiB of the 512 MiB budget (Agent:MemoryBudgetMb) left", states[1].Notice);
        Assert.Equal("not in its cohort (camera=yes)", states[3].Notice);
        Assert.All(states.Where(s => s.Runs), s => Assert.Empty(s.Notice));
    }

    [Fact]
    public void ACohortOfSeveralTags_NeedsThemAll_AndABudgetOfZero_RunsNoLine()
    {
        var catalogue = new ModelCatalogue { Lines = { Line("kws", 64, ("mic", ["yes", "array"]), ("region", ["eu"])) } };
        Assert.True(LineAssignment.Decide(catalogue, new Dictionary<string, string> { ["mic"] = "array", ["region"] = "eu" }, 512L << 20)[0].Runs);
        Assert.False(LineAssignment.Decide(catalogue, new Dictionary<string, string> { ["mic"] = "array" }, 512L << 20)[0].Runs);
        Assert.False(LineAssignment.Decide(catalogue, new Dictionary<string, string> { ["mic"] = "yes", ["region"] = "eu" }, 0)[0].Runs);
        Assert.True(LineAssignment.Decide(new ModelCatalogue { Lines = { Line("all", 1) } }, new Dictionary<string, string>(), 1L << 20)[0].Runs); // no cohort: every device
    }
}
