namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Rounds never run for a model the fleet only serves: it declares no trained tensors and has no train step.</summary>
internal static class ServeOnlyModel
{
    public static string? StopReason(AggregatorOptions options) => options.Model.Trainable
        ? null
        : $"the fleet serves {options.Model} without training it ({(options.Model.IsClassifier ? "ModelInterface:Trainable=none" : "ModelInterface:Kind=tensors")}): no tensor to train, no round to run";
}
