using EdgeMlOps.Aggregator.Evaluation;
using EdgeMlOps.Shared.Privacy;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Evaluation;

/// <summary>Differentially private federated importance: each device clipped, Gaussian noise of the stated size, the ε the accountant gives.</summary>
public sealed class ImportancePrivacyTests
{
    private static EvaluationResult Device(ulong rows, double accuracy, params double[] shuffledAccuracy)
    {
        var result = new EvaluationResult { Version = 3, SampleCount = rows, Accuracy = accuracy, Loss = 0.5, ImportanceRows = rows, ImportanceCorrect = (ulong)(rows * accuracy) };
        result.PermutedCorrect.AddRange(shuffledAccuracy.Select(a => (ulong)(rows * a)));
        return result;
    }

    /// <summary>200 devices of 1,000 rows: accuracy 0.9; shuffled, input 0 drops it to 0.6, input 1 to 0.85, input 2 not at all.</summary>
    private static EvaluationResult[] Fleet() => Enumerable.Range(0, 200).Select(_ => Device(1000, 0.9, 0.6, 0.85, 0.9)).ToArray();

    [Fact]
    public void WithoutNoise_NothingChanges_AndADeviceClaimingHugeCountsWeighsAsItsClip()
    {
        var exact = FederatedImportance.Combine(3, [0, 1, 2], Fleet())!;
        Assert.Equal(0.3, exact.Importance[0].Mean, 9);
        Assert.Null(exact.Epsilon);

        var privacy = new ImportancePrivacy { NoiseMultiplier = 1e-9, RowsPerDevice = 1000, Seed = 1 }; // clipping only, noise negligible
        var liar = Device(4_000_000_000, 0.9, 0.9, 0.9, 0.0); // claims input 2 matters enormously
        var clipped = FederatedImportance.Combine(3, [0, 1, 2], [.. Fleet(), liar], privacy)!;
        Assert.Equal(201_000, clipped.Rows);
        Assert.InRange(clipped.Importance[2].Mean, 0, 0.005); // one device of 201: 0.9 / 201
        Assert.True(FederatedImportance.Combine(3, [0, 1, 2], [.. Fleet(), liar])!.Importance[2].Mean > 0.8); // unclipped, it decides
    }

    [Fact]
    public void TheNoise_HasTheStatedSize_AndTheRankingSurvivesIt()
    {
        var privacy = new ImportancePrivacy { NoiseMultiplier = 1.0, RowsPerDevice = 1000 };
        var sigma = privacy.NoiseStdDev(3);
        Assert.Equal(1000 * Math.Sqrt(5), sigma, 9);
        var estimates = Enumerable.Range(1, 400).Select(seed => FederatedImportance.Combine(3, [0, 1, 2], Fleet(), privacy with { Seed = (ulong)seed })!).ToArray();
        var input2 = estimates.Select(e => e.Importance[2].Mean).ToArray();
        var mean = input2.Average();
        var sd = Math.Sqrt(input2.Sum(v => (v - mean) * (v - mean)) / (input2.Length - 1));
        var expected = Math.Sqrt(2) * sigma / 200_000; // two independent noisy counts over 200,000 rows
        Assert.InRange(sd, expected * 0.85, expected * 1.15);
        Assert.InRange(mean, -4 * expected / 20, 4 * expected / 20); // unbiased
        Assert.True(estimates.Count(e => e.Importance[0].Mean > e.Importance[1].Mean && e.Importance[1].Mean > e.Importance[2].Mean) >= 390,
            "the order 0 > 1 > 2 (importance 0.3, 0.05, 0) should survive the noise almost always");
        Assert.All(estimates, e => Assert.Equal(sigma, e.NoiseStdDev));
    }

    [Fact]
    public void Epsilon_IsTheAccountants_AndFallsAsTheNoiseGrows()
    {
        var one = new ImportancePrivacy { NoiseMultiplier = 1.0 };
        var two = one with { NoiseMultiplier = 2.0 };
        Assert.Equal(new RdpAccountant().EpsilonAfter(1.0, 1.0, 1e-5), one.Epsilon(), 12);
        Assert.True(two.Epsilon() < one.Epsilon() / 1.8, $"{two.Epsilon()} vs {one.Epsilon()}");
        var release = FederatedImportance.Combine(3, [0, 1, 2], Fleet(), one with { Seed = 5 })!;
        Assert.Equal((one.Epsilon(), 1e-5), (release.Epsilon!.Value, release.Delta!.Value));
    }

    /// <summary>A device's partial-dependence sums for one input on a 5-point grid, two classes: class 1's probability rises 0.1 → 0.9.</summary>
    private static EvaluationResult Curve(ulong rows, double lift = 0)
    {
        var result = new EvaluationResult { Version = 3, SampleCount = rows, Accuracy = 0.5, Loss = 0.5 };
        var entry = new DependenceSums { Input = 4, Rows = rows };
        for (var g = 0; g < 5; g++)
        {
            var p1 = Math.Min(1, 0.1 + 0.2 * g + lift);
            entry.Sums.Add(rows * (1 - p1));
            entry.Sums.Add(rows * p1);
        }

        result.Dependence.Add(entry);
        return result;
    }

    [Fact]
    public void PartialDependence_IsClippedAndNoised_AndItsEpsilonComposesWithImportance()
    {
        var request = new DependenceRequest { Input = 4 };
        request.Grid.AddRange([0f, 1f, 2f, 3f, 4f]);
        var fleet = Enumerable.Range(0, 100).Select(_ => Curve(1000)).ToArray();
        var privacy = new ImportancePrivacy { NoiseMultiplier = 1.0, RowsPerDevice = 1000 };
        var sigma = privacy.DependenceNoiseStdDev(inputs: 1, grid: 5);
        Assert.Equal(1000 * Math.Sqrt(6), sigma, 9);

        var middle = Enumerable.Range(1, 300).Select(seed => FederatedDependence.Combine([request], 2, fleet, privacy with { Seed = (ulong)seed })[0].Average[2][1]).ToArray();
        var mean = middle.Average();
        var sd = Math.Sqrt(middle.Sum(v => (v - mean) * (v - mean)) / (middle.Length - 1));
        Assert.InRange(mean, 0.5 - 0.01, 0.5 + 0.01);                 // unbiased around the true 0.5
        Assert.InRange(sd, 0.85 * sigma / 100_000, 1.3 * sigma / 100_000); // the sum's noise over 100,000 rows (plus the rows' own)

        // One device claiming a billion rows with class 1 everywhere weighs as 1,000 rows (clip), not as the fleet.
        var liar = Curve(1_000_000_000, lift: 1);
        var clipped = FederatedDependence.Combine([request], 2, [.. fleet, liar], privacy with { NoiseMultiplier = 1e-9, Seed = 1 })[0];
        Assert.InRange(clipped.Average[0][1], 0.1, 0.11);
        Assert.True(FederatedDependence.Combine([request], 2, [.. fleet, liar])[0].Average[0][1] > 0.99);

        Assert.Equal(new RdpAccountant().EpsilonAfter(1.0, 1.0, 1e-5, 2), privacy.Epsilon(2), 12);
        Assert.True(privacy.Epsilon(2) > privacy.Epsilon(1));
    }
}
