using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Shared.Configuration;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Lines;

/// <summary>
/// Model lines added at run time (<see cref="FleetLines"/>): read by the configuration's rules over the fleet's own
/// configuration, started before they are kept, kept so the next start reads them as configuration, and removed only
/// when added so; every refusal leaves the fleet's lines as they were.
/// </summary>
public sealed class FleetLinesTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "edgemlops-fleet-lines-" + Guid.NewGuid().ToString("N"));
    private readonly List<string> _events = [];

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private Dictionary<string, string?> Configured() => new()
    {
        ["Aggregator:Fleet"] = "plant", ["Aggregator:Model"] = "mlp-4-6-3", ["Aggregator:DataDirectory"] = _dir, ["Aggregator:Rounds:LocalEpochs"] = "3",
        ["Aggregator:HttpUrl"] = "https://127.0.0.1:8443", ["Aggregator:Lines:cam:Model"] = "mlp-8-4-2", ["Aggregator:Lines:cam:HttpUrl"] = "https://127.0.0.1:8445",
    };

    private FleetLines Lines(Dictionary<string, string?> values) => Lines(AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build()));

    /// <summary>The fleet's options as the aggregator's host reads them when it starts (the configuration, and the lines kept in the data directory).</summary>
    private AggregatorOptions Started() => AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(Configured()).Build());

    private FleetLines Lines(AggregatorOptions options)
    {
        var lines = new FleetLines(options)
        {
            Starting = (line, _) =>
            {
                _events.Add("start " + line.Name);
                return Task.CompletedTask;
            },
            Stopping = name =>
            {
                _events.Add("stop " + name);
                return Task.CompletedTask;
            },
            Changed = _ =>
            {
                _events.Add("catalogue");
                return Task.CompletedTask;
            },
        };
        return lines;
    }

    private static Dictionary<string, string> Settings(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public async Task AnAddedLine_IsReadLikeAConfiguredOne_StartedAnnouncedAndKept_ForTheNextStart()
    {
        var lines = Lines(Configured());
        var kws = await lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Cohort:mic", "yes"), ("Rounds:LearningRate", "0.05")), CancellationToken.None);

        Assert.Equal(["start kws", "catalogue"], _events);
        Assert.Equal(["cam", "kws"], lines.Current.Select(l => l.Name));
        Assert.True(lines.IsAdded("kws"));
        Assert.False(lines.IsAdded("cam"));
        Assert.Equal(3, kws.Options.Rounds.LocalEpochs); // the fleet's
        Assert.Equal(0.05f, kws.Options.Rounds.LearningRate); // its own
        Assert.Equal(["yes"], kws.Cohort["mic"]);
        Assert.Equal(Path.Combine(_dir, "lines", "kws"), kws.Options.DataDirectory);

        // The next start: the kept lines beneath the configuration, read as configured ones.
        var restarted = Started();
        Assert.Equal(["cam", "kws"], restarted.Lines.Select(l => l.Name));
        Assert.Equal(kws.Options.Model, restarted.Lines[1].Options.Model);
        Assert.Equal(0.05f, restarted.Lines[1].Options.Rounds.LearningRate);

        // Removed: stopped, off the catalogue, and not there at the next start.
        await lines.RemoveAsync("kws", CancellationToken.None);
        Assert.Equal(["start kws", "catalogue", "stop kws", "catalogue"], _events);
        Assert.Equal(["cam"], lines.Current.Select(l => l.Name));
        Assert.Empty(FleetLines.StoredSettings(_dir));
    }

    [Fact]
    public async Task AnAggregatorTakingOver_RunsTheLinesTheSharedDataDirectoryKeepsNow_NotThoseItReadWhenItStarted()
    {
        // Active/standby (or replicas) on one data directory: a standby reads its options at its start, then waits for
        // the lease while the leader adds and removes lines.
        var standby = Started();
        var leader = Lines(Configured());
        await leader.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Cohort:mic", "yes")), CancellationToken.None);

        var tookOver = Lines(standby);
        Assert.Equal(["cam", "kws"], tookOver.Current.Select(l => l.Name)); // not dropped from the fleet's catalogue
        Assert.True(tookOver.IsAdded("kws"));

        // A standby that started while kws was kept, and took over after it was removed, does not bring it back.
        var startedWithIt = Started();
        Assert.Equal(["cam", "kws"], startedWithIt.Lines.Select(l => l.Name));
        await tookOver.RemoveAsync("kws", CancellationToken.None);
        Assert.Equal(["cam"], Lines(startedWithIt).Current.Select(l => l.Name));

        // A line added again after a restart is read from the settings it is given now, not with those it once had.
        await tookOver.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Cohort:mic", "yes")), CancellationToken.None);
        var restarted = Lines(Started());
        await restarted.RemoveAsync("kws", CancellationToken.None);
        var again = await restarted.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444")), CancellationToken.None);
        Assert.Empty(again.Cohort);
    }

    [Fact]
    public void TheLinesReadAtTheStart_AreNotReadAgain_WhileTheStoreOfAddedLinesIsUnchanged()
    {
        // Reading a line opens its files (its model, its held-out data): done once at a start, not again for nothing.
        Directory.CreateDirectory(_dir);
        var heldOut = Path.Combine(_dir, "held-out.jsonl");
        File.WriteAllText(heldOut, string.Empty);
        var values = Configured();
        values["Aggregator:Lines:cam:Evaluation:DataFile"] = heldOut;
        var started = AggregatorOptions.FromConfiguration(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        File.Delete(heldOut); // read again, the line would now be refused

        Assert.Equal(["cam"], Lines(started).Current.Select(l => l.Name));
    }

    [Fact]
    public async Task ALineThatDoesNotRead_ClashesOrCannotStart_ChangesNothing_AndSaysWhy()
    {
        var lines = Lines(Configured());
        var missing = await Assert.ThrowsAsync<OptionsValidationException>(() => lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2")), CancellationToken.None));
        Assert.Contains(missing.Errors, e => e.StartsWith("Aggregator:Lines:kws:HttpUrl: required", StringComparison.Ordinal));
        var wrong = await Assert.ThrowsAsync<OptionsValidationException>(() => lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Rounds:Fracton", "0.5")), CancellationToken.None));
        Assert.Contains(wrong.Errors, e => e.StartsWith("Aggregator:Lines:kws:Rounds:Fracton: not a setting", StringComparison.Ordinal));
        var clash = await Assert.ThrowsAsync<OptionsValidationException>(() => lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8445")), CancellationToken.None));
        Assert.Contains(clash.Errors, e => e.Contains("each model's API needs an address of its own, not 127.0.0.1:8445", StringComparison.Ordinal));
        var fleetWide = await Assert.ThrowsAsync<OptionsValidationException>(() => lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444"), ("Store:Engine", "postgresql")), CancellationToken.None));
        Assert.Contains(fleetWide.Errors, e => e.StartsWith("Aggregator:Lines:kws:Store:Engine: a fleet-wide setting", StringComparison.Ordinal));
        var colon = await Assert.ThrowsAsync<OptionsValidationException>(() => lines.AddAsync("k:ws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444")), CancellationToken.None));
        Assert.StartsWith("Aggregator:Lines:k:ws: 'k:ws' cannot name a model line (1 to 64 letters", Assert.Single(colon.Errors), StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => lines.AddAsync("cam", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444")), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => lines.AddAsync("digits", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444")), CancellationToken.None)); // the first model's name

        lines.Starting = (_, _) => throw new IOException("port in use");
        await Assert.ThrowsAsync<IOException>(() => lines.AddAsync("kws", Settings(("Model", "mlp-6-8-2"), ("HttpUrl", "https://127.0.0.1:8444")), CancellationToken.None));

        Assert.Empty(_events);
        Assert.Equal(["cam"], lines.Current.Select(l => l.Name));
        Assert.Empty(FleetLines.StoredSettings(_dir));
        var configured = await Assert.ThrowsAsync<InvalidOperationException>(() => lines.RemoveAsync("cam", CancellationToken.None));
        Assert.Contains("is configured (Aggregator:Lines:cam): remove it from the configuration", configured.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => lines.RemoveAsync("nope", CancellationToken.None));
    }
    [Theory]
    [InlineData("{\"kws\": {\"Model\": \"mlp-6-8-2\", ", "do not read")] // cut off mid-write by something else
    [InlineData("[\"kws\"]", "do not read")]
    [InlineData("{\"kws\": null}", "line 'kws' has no settings")]
    [InlineData("{\"kws\": {\"Model\": null}}", "line 'kws' setting 'Model' has no value")]
    [InlineData("{\"\": {\"Model\": \"mlp-6-8-2\"}}", "a line has no name")]
    [InlineData("{\"k:ws\": {\"Model\": \"mlp-6-8-2\"}}", "line 'k:ws' is not a line name")]
    [InlineData("{\"kws\": {\"\": \"x\"}}", "line 'kws' has a setting without a name")]
    public void ADamagedStoreOfAddedLines_RefusesTheStart_NamingTheFile_AndIsLeftAsItWas(string json, string says)
    {
        var file = Path.Combine(_dir, "lines", FleetLines.StoreFile);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, json);

        var read = Assert.Throws<OptionsValidationException>(() => FleetLines.StoredSettings(_dir).ToList());
        var error = Assert.Single(read.Errors);
        Assert.StartsWith(file + ": ", error, StringComparison.Ordinal);
        Assert.Contains(says, error, StringComparison.Ordinal);
        Assert.EndsWith("fix or remove the file", error, StringComparison.Ordinal);
        Assert.Throws<OptionsValidationException>(() => Lines(Configured()));
        Assert.Equal(json, File.ReadAllText(file)); // nothing rewritten: the operator's lines are still there to mend
    }

    [Fact]
    public void AStoreOfAddedLinesThatIsADirectory_RefusesTheStart_NamingIt()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "lines", FleetLines.StoreFile));

        var read = Assert.Throws<OptionsValidationException>(() => FleetLines.StoredSettings(_dir).ToList());
        Assert.Contains("cannot be read", Assert.Single(read.Errors), StringComparison.Ordinal);
    }
}
