using EdgeMlOps.Aggregator.Registry;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// How many rounds or versions one call of <c>/models/{name}/versions</c> or <c>/rounds</c> answers: <c>?limit=</c>,
/// 1000 by default, 1 to 100,000. A fleet that trains for months has tens of thousands; every one of them in every
/// answer made the console's five-second refresh read and send them all. Older pages: <c>?before=</c> the oldest one had.
/// </summary>
public static class HistoryPage
{
    public static int Size(int? limit) => Math.Clamp(limit ?? ModelRegistry.DefaultPage, 1, ModelRegistry.MaxPage);
}
