using EdgeMlOps.Agent.Storage;

namespace EdgeMlOps.Agent.Tests.Storage;

public class BootEpochTests
{
    private static string TempFile() => Path.Combine(Path.GetTempPath(), "edgemlops-boot-" + Guid.NewGuid().ToString("N"), "boot");

    [Fact]
    public void Next_IsStrictlyIncreasing_EvenWhenTheClockStandsStillOrGoesBack()
    {
        var path = TempFile();
        var noon = DateTimeOffset.FromUnixTimeMilliseconds(1_000_000);
        var first = BootEpoch.Next(path, noon);
        var second = BootEpoch.Next(path, noon);
        var third = BootEpoch.Next(path, DateTimeOffset.UnixEpoch); // a device without a real-time clock
        Assert.Equal(1_000_000UL, first);
        Assert.Equal(first + 1, second);
        Assert.Equal(second + 1, third);
        Assert.Equal(2_000_000UL, BootEpoch.Next(path, DateTimeOffset.FromUnixTimeMilliseconds(2_000_000)));
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }

    [Fact]
    public void Next_WithAGarbledFile_FallsBackToTheClock()
    {
        var path = TempFile();
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "not a number");
        Assert.Equal(5_000UL, BootEpoch.Next(path, DateTimeOffset.FromUnixTimeMilliseconds(5_000)));
        Assert.Equal(5_001UL, BootEpoch.Next(path, DateTimeOffset.FromUnixTimeMilliseconds(5_000)));
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }
}
