namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// The aggregator's broker (external, or a line's fleet broker) could not be reached at start: refused, unreachable, or
/// taking the connection and never answering within the connect timeout. The host stops with exit code 2 naming it.
/// </summary>
public sealed class BrokerUnreachableException(string message, Exception inner) : Exception(message, inner);
