namespace EdgeMlOps.Agent.Inputs;

/// <summary>One input for the agent: features to predict on, or, with a label (a regressor: a target), ground truth to learn from.</summary>
public sealed record InputRecord(float[] Features, long? Label)
{
    /// <summary>A regressor's ground truth: the true values for these features (null: none, or a class label).</summary>
    public float[]? Target { get; init; }
}

/// <summary>Where inputs come from: the local HTTP API, a JSON-lines stream, a sensor.</summary>
public interface IInputSource
{
    string Name { get; }

    IAsyncEnumerable<InputRecord> ReadAsync(CancellationToken cancellationToken);
}
