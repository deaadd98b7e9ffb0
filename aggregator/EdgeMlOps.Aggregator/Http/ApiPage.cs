namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// How many items one call of a list that grows with the fleet's life answers — versions, rounds, devices, enrolled
/// devices: <c>?limit=</c>, 1000 by default, 1 to 100,000. A fleet that has trained for months has tens of thousands of
/// versions and rounds, and a large one 100,000 devices; every one of them in every answer made the console's
/// five-second refresh read and send them all. Further pages: <c>?before=</c> (history) or <c>?after=</c> (devices).
/// </summary>
public static class ApiPage
{
    public const int DefaultSize = 1000;

    public const int MaxSize = 100_000;

    public static int Size(int? limit) => Math.Clamp(limit ?? DefaultSize, 1, MaxSize);
}
