namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// The aggregator's broker (external, or a line's fleet broker) could not be reached at start: refused, unreachable, or
/// taking the connection and never answering within the connect timeout. The host stops with exit code 2 naming it.
/// </summary>
public sealed class BrokerUnreachableException(string message, Exception inner) : Exception(message, inner)
{
    /// <summary>
    /// The failed first connection of <paramref name="options"/>' aggregator: the fleet's names <c>Aggregator:Broker</c>;
    /// a model line's names the line and the identity the broker must admit (its rules are written per line).
    /// </summary>
    public static BrokerUnreachableException AtStart(AggregatorOptions options, Exception failure)
    {
        var broker = options.ExternalBroker?.ToString() ?? "the embedded broker";
        var reason = failure.Message.TrimEnd('.');
        return new BrokerUnreachableException(options.Line is { } line
            ? $"{AggregatorOptions.Section}:{Lines.ModelLinesConfiguration.Section}:{line}: its aggregator ({Lines.ModelLineOptions.IdentityPrefix}{line}) cannot connect to {broker} at start: {reason}. Does the broker admit it? Behind Mosquitto, write its rules with --write-mosquitto-config (with this line) and reload the broker"
            : $"{AggregatorOptions.Section}:Broker: {broker} cannot be reached at start: {reason}. Is it running, and does it take this aggregator's certificate?", failure);
    }
}
