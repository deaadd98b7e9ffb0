namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// Pace steering's check-in windows on real agents: each selected device's signed task names its slot in the window, the
/// agent waits for it, and the round's updates reach the aggregator spread over the window instead of all at once.
/// </summary>
[Collection(FleetCollection.Name)]
public class CheckInWindowTests
{
    private static Task<SimulationResult> RunAsync(params string[] extra) =>
        new SimulationRunner(SimulationOptions.Parse(new[] { "--dataset", "synthetic", "--devices", "40", "--rounds", "1", "--fraction", "0.5",
            "--deadline", "20", "--hidden", "8", "--local-epochs", "1", "--transport", "memory", "--seed", "2", "--out", "-" }
            .Concat(extra).ToArray())).RunAsync(CancellationToken.None);

    [Fact]
    public async Task AFiveSecondWindow_SpreadsTwentyUpdatesOverFiveSeconds_AndTheRoundStillCompletes()
    {
        var bunched = (await RunAsync()).Rounds.Single();
        var paced = (await RunAsync("--check-in-window", "5")).Rounds.Single();

        Assert.Equal(("Completed", 20), (bunched.Status, bunched.Participants));
        Assert.Equal(("Completed", 20), (paced.Status, paced.Participants));
        Assert.True(bunched.ArrivalSpreadSeconds < 2.5, $"without a window every device starts at once: spread {bunched.ArrivalSpreadSeconds:F2} s");
        // Twenty slots 0.25 s apart: the last device starts 4.75 s after the first.
        Assert.InRange(paced.ArrivalSpreadSeconds, 4.0, 10.0);
        Assert.True(paced.PeakUpdatesPerSecond <= 8, $"about 4 updates a second; peak {paced.PeakUpdatesPerSecond}");
        Assert.True(bunched.PeakUpdatesPerSecond >= 2 * paced.PeakUpdatesPerSecond, $"peak {bunched.PeakUpdatesPerSecond}/s at once against {paced.PeakUpdatesPerSecond}/s paced");
    }

    [Fact]
    public void AWindowLongerThanHalfTheDeadline_IsRefusedNamingTheKey()
    {
        var rounds = new EdgeMlOps.Aggregator.RoundOptions { ReportDeadline = TimeSpan.FromSeconds(20), CheckInWindow = TimeSpan.FromSeconds(11) };
        var problem = Assert.Single(rounds.Problems());
        Assert.Equal("Rounds:CheckInWindowSeconds", problem.Key);
    }
}
