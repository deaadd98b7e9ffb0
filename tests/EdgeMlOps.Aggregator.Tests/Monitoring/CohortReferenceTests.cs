using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Monitoring;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>
/// Drift per cohort against the cohort's own training sketches: a fleet whose regions differ is compared region by
/// region with what each trained on, not with a mixture no region matches.
/// </summary>
public sealed class CohortReferenceTests
{
    private const long Window = 7;

    private static FleetMonitor Monitor(bool cohortReferences) =>
        new(new MonitoringOptions { CohortTag = "region", CohortReferences = cohortReferences, MinCohortReferenceRows = 200 }, features: 2, classes: 2);

    /// <summary><paramref name="rows"/> inputs around <paramref name="centre"/> (both features), as a device's window or training sketch.</summary>
    private static WindowProfile Profile(double centre, int rows, int seed)
    {
        var random = new Random(seed);
        var profile = new WindowProfile(2, 2);
        for (var i = 0; i < rows; i++) profile.AddInputs([(float)(centre + random.NextDouble() * 2 - 1), (float)(centre + random.NextDouble() * 2 - 1)]);
        return profile;
    }

    /// <summary>v2 trained on the north (around 0) and the south (around 3); this window's north and south look like their training data, the south shifted by <paramref name="southShift"/>.</summary>
    private static IReadOnlyList<DriftReport> Run(FleetMonitor monitor, double southShift = 0, int southTrainingRows = 600)
    {
        monitor.AddTraining(Profile(0, 600, 1), "north");
        monitor.AddTraining(Profile(3, southTrainingRows, 2), "south");
        monitor.PromoteReference(2, 1);
        monitor.Add(2, "north", Window, Profile(0, 500, 3));
        monitor.Add(2, "south", Window, Profile(3 + southShift, 500, 4));
        return monitor.Evaluate(Window);
    }

    private static DriftReport Of(IReadOnlyList<DriftReport> reports, string cohort) => reports.Single(r => r.Cohort == cohort);

    [Fact]
    public void ARegionUnlikeTheFleet_IsNotDrifting_AgainstItsOwnTrainingData()
    {
        var fleet = Run(Monitor(cohortReferences: false));
        Assert.True(Of(fleet, "south").DatasetDrift, "against the fleet's mixture, the south always looks drifted");
        Assert.Equal("fleet", Of(fleet, "south").Reference);

        var own = Run(Monitor(cohortReferences: true));
        Assert.False(Of(own, "south").DatasetDrift);
        Assert.False(Of(own, "north").DatasetDrift);
        Assert.Equal(("cohort", "cohort", "fleet"), (Of(own, "south").Reference, Of(own, "north").Reference, Of(own, FleetMonitor.AllCohorts).Reference));
    }

    [Fact]
    public void AShiftWithinARegion_IsStillCaught_AgainstItsOwnReference()
    {
        var reports = Run(Monitor(cohortReferences: true), southShift: 2);
        Assert.True(Of(reports, "south").DatasetDrift);
        Assert.Equal("cohort", Of(reports, "south").Reference);
        Assert.False(Of(reports, "north").DatasetDrift);
    }

    [Fact]
    public void ACohortWithTooFewTrainingValues_FallsBackToTheFleetReference()
    {
        var reports = Run(Monitor(cohortReferences: true), southTrainingRows: 50);
        Assert.Equal("fleet", Of(reports, "south").Reference);
        Assert.Equal("cohort", Of(reports, "north").Reference);
    }

    [Fact]
    public void AVersionWithoutARound_InheritsItsParentsCohortReferences_AndARoundReplacesOnlyTheCohortsThatTrained()
    {
        var monitor = Monitor(cohortReferences: true);
        Run(monitor);
        monitor.PromoteReference(3, 2); // an uploaded version: no round, no sketches
        Assert.Equal(["north", "south"], monitor.CohortReferencesOf(3).Keys.Order(StringComparer.Ordinal));

        monitor.AddTraining(Profile(5, 600, 9), "south"); // v4's round: only southern devices sent sketches
        monitor.PromoteReference(4, 3);
        var v4 = monitor.CohortReferencesOf(4);
        Assert.Same(monitor.CohortReferencesOf(3)["north"], v4["north"]);
        Assert.NotSame(monitor.CohortReferencesOf(3)["south"], v4["south"]);
        Assert.Empty(Monitor(cohortReferences: false).CohortReferencesOf(2)); // off: none kept
    }

    [Fact]
    public void TheSettings_AreReadFromConfiguration_AndNeedACohortTag()
    {
        static IConfiguration Config(params (string Key, string Value)[] values) =>
            new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();
        var options = AggregatorOptions.FromConfiguration(Config(("Aggregator:Monitoring:CohortTag", "region"), ("Aggregator:Monitoring:CohortReferences", "true"), ("Aggregator:Monitoring:MinCohortReferenceRows", "500")));
        Assert.Equal((true, 500L), (options.Monitoring.CohortReferences, options.Monitoring.MinCohortReferenceRows));
        var ex = Assert.Throws<OptionsValidationException>(() => AggregatorOptions.FromConfiguration(Config(("Aggregator:Monitoring:CohortReferences", "true"))));
        Assert.Contains(ex.Errors, e => e.Contains("per-cohort references need Monitoring:CohortTag", StringComparison.Ordinal));
    }
}
