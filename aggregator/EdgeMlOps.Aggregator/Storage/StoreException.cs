namespace EdgeMlOps.Aggregator.Storage;

/// <summary>The aggregator's tables cannot be used: the database is unreachable or refuses us, or its schema is newer than this binary.</summary>
public sealed class StoreException(string message, Exception? inner = null) : Exception(message, inner);
