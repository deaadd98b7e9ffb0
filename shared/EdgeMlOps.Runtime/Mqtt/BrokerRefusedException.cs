namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>
/// The broker answered and said no (its ACL refused a publish or a subscription, or it refused the client's connection
/// for good: not authorized, a bad client id): not a broken link, so sending the same message again will not help —
/// unlike a timeout or a dropped connection.
/// </summary>
public sealed class BrokerRefusedException(string message) : InvalidOperationException(message);
