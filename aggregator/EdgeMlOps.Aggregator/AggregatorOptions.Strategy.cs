using EdgeMlOps.Shared.Configuration;
using EdgeMlOps.Shared.Federated;
using EdgeMlOps.Shared.Tensors;
using Microsoft.Extensions.Configuration;

namespace EdgeMlOps.Aggregator;

/// <summary>The <c>Aggregator:Strategy</c> settings: the aggregation rule, its server optimizer, compression and differential privacy.</summary>
public sealed partial record AggregatorOptions
{
    /// <summary>Only the <c>Aggregator:Strategy</c> section; every error listed.</summary>
    public static StrategyOptions StrategyFromConfiguration(IConfiguration configuration)
    {
        var r = new ConfigReader(configuration, Section);
        var strategy = ReadStrategy(r);
        r.RejectUnknownKeys();
        r.ThrowIfInvalid("strategy");
        return strategy;
    }

    /// <summary>The DP settings, read only when DP is enabled.</summary>
    private static readonly string[] DpKeys = new[] { "NoiseSeed", "NoiseMultiplier", "ClipNorm", "AdaptiveClipping", "TargetQuantile", "ClipLearningRate", "ClippedCountStddev", "Delta", "EpsilonBudget", "RejectNormAboveClips" }
        .Select(k => "Strategy:Dp:" + k).ToArray();

    private static StrategyOptions ReadStrategy(ConfigReader r)
    {
        var compressionText = r.String("Strategy:Compression", "fp32");
        var compression = new CompressionSettings(Shared.Protocol.V1.TensorEncoding.Float32Le);
        try
        {
            compression = CompressionSettings.Parse(compressionText);
        }
        catch (FormatException ex)
        {
            r.Require(false, "Strategy:Compression", ex.Message);
        }

        DpOptions? dp = null;
        r.Declare(DpKeys);
        if (r.Bool("Strategy:Dp:Enabled", false))
        {
            var seed = r.OptionalString("Strategy:Dp:NoiseSeed");
            r.Require(seed is null || ulong.TryParse(seed, out _), "Strategy:Dp:NoiseSeed", $"'{seed}' is not an unsigned integer");
            dp = new DpOptions
            {
                NoiseMultiplier = r.Double("Strategy:Dp:NoiseMultiplier", 1.0, 0, 1000),
                ClipNorm = r.Double("Strategy:Dp:ClipNorm", 1.0, 1e-9, 1e9),
                AdaptiveClipping = r.Bool("Strategy:Dp:AdaptiveClipping", false),
                TargetQuantile = r.Double("Strategy:Dp:TargetQuantile", 0.5, 0, 1),
                ClipLearningRate = r.Double("Strategy:Dp:ClipLearningRate", 0.2, 0, 100),
                ClippedCountStddev = r.Double("Strategy:Dp:ClippedCountStddev", 0, 0, 1e9),
                Delta = r.Double("Strategy:Dp:Delta", 1e-5, 0, 1),
                EpsilonBudget = r.Double("Strategy:Dp:EpsilonBudget", 0, 0, 1e9),
                RejectNormAboveClips = r.Double("Strategy:Dp:RejectNormAboveClips", 1000, 1, 1e12),
                NoiseSeed = seed is not null && ulong.TryParse(seed, out var s) ? s : null,
            };
        }

        var strategy = new StrategyOptions
        {
            Name = r.String("Strategy:Name", "fedavg").ToLowerInvariant(),
            ServerOptimizer = r.OptionalString("Strategy:ServerOptimizer")?.ToLowerInvariant(),
            ServerLearningRate = r.Double("Strategy:ServerLearningRate", 1.0),
            Momentum = r.Double("Strategy:Momentum", 0.9),
            Eta = r.Double("Strategy:Eta", 0.01),
            Beta1 = r.Double("Strategy:Beta1", 0.9),
            Beta2 = r.Double("Strategy:Beta2", 0.99),
            Tau = r.Double("Strategy:Tau", 1e-3),
            ProximalMu = r.Double("Strategy:ProximalMu", 0),
            TrimBeta = r.Double("Strategy:TrimBeta", 0.2),
            ByzantineClients = r.Int("Strategy:ByzantineClients", 1),
            MultiKrumKeep = r.Int("Strategy:MultiKrumKeep", 0),
            BucketSize = r.Int("Strategy:BucketSize", 1),
            Compression = compression,
            MaxUpdateNorm = r.Double("Strategy:MaxUpdateNorm", 0),
            StalenessExponent = r.Double("Strategy:StalenessExponent", 0.5),
            MaxParallelism = r.Int("Strategy:MaxParallelism", Environment.ProcessorCount, 1, 1024),
            ExactSum = r.Bool("Strategy:ExactSum", false),
            Dp = dp,
        };
        foreach (var error in strategy.Errors()) r.Require(false, "Strategy", error);
        return strategy;
    }
}
