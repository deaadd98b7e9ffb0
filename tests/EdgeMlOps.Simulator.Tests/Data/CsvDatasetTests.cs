using EdgeMlOps.Simulator.Data;

namespace EdgeMlOps.Simulator.Tests.Data;

/// <summary><c>--dataset csv:PATH</c>: class ids in the last column for a classifier, target columns for a regressor; a bad value is named.</summary>
public class CsvDatasetTests
{
    private static string Write(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"edgemlops-csv-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void ClassIdsInTheLastColumn_AreLabels_AndTheClassesAreTheLargestIdPlusOne()
    {
        var data = CsvTargetDataset.LoadClasses(Write("0.5,1,2\n3,4,0\n\n5,6,4\n"));

        Assert.Equal((3, 2, 5), (data.Count, data.InputDim, data.Classes));
        Assert.Equal([2L, 0L, 4L], data.Labels);
        Assert.Equal([0.5f, 1f, 3f, 4f, 5f, 6f], data.Features);
        Assert.Null(data.Targets);
    }

    [Theory]
    [InlineData("1,2,0\n3,4,1.5\n", "sample 2: class '1.5'")]
    [InlineData("1,2,0\n3,4,-1\n", "sample 2: class '-1'")]
    [InlineData("1,2,0\n3,4\n", "line 2: 2 values")]
    [InlineData("1,2,0\n3,x,1\n", "line 2: value 2 'x' is not a finite number")]
    public void ABadLine_IsRefusedNamingIt(string text, string expected)
    {
        var refused = Assert.Throws<InvalidDataException>(() => CsvTargetDataset.LoadClasses(Write(text)));

        Assert.Contains(expected, refused.Message);
    }

    [Fact]
    public void TargetColumns_StayValues()
    {
        var data = CsvTargetDataset.Load(Write("1,2,0.25\n3,4,7\n"), 1);

        Assert.Equal([0.25f, 7f], data.Targets!);
        Assert.Equal(0, data.Classes);
    }
}
