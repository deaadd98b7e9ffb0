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
}
