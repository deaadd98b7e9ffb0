using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Aggregator.Registry;

/// <summary>A registered version with its weights in memory (the training head, or a version just made).</summary>
public sealed record GlobalModel(ModelVersionRecord Record, ModelWeights Weights);
