using EdgeMlOps.Runtime.Storage;

namespace EdgeMlOps.Agent.Storage;

/// <summary>
/// An agent's sample store and outbox in its data directory (or in memory, for a directory that takes no writes), each
/// opened or — when its file is unreadable — set aside and started empty (<see cref="StoreRecovery"/>), with what was
/// done as notices for status and health. The host opens the first model's; each model line opens its own.
/// </summary>
public sealed class AgentStores : IDisposable
{
    private AgentStores(SampleStore samples, Outbox outbox, IReadOnlyList<string> notices) => (Samples, Outbox, Notices) = (samples, outbox, notices);

    public SampleStore Samples { get; }

    public Outbox Outbox { get; }

    /// <summary>Stores set aside and started empty.</summary>
    public IReadOnlyList<string> Notices { get; }

    private const string SamplesFile = "agent.db";
    private const string OutboxFile = "outbox.db";

    /// <summary>Whether <paramref name="dataDirectory"/> holds an agent's stores (either file), without creating anything.</summary>
    public static bool Exist(string dataDirectory) =>
        File.Exists(Path.Combine(dataDirectory, SamplesFile)) || File.Exists(Path.Combine(dataDirectory, OutboxFile));

    public static AgentStores Open(AgentOptions options, bool inMemory, DateTimeOffset now)
    {
        if (!inMemory) Directory.CreateDirectory(options.DataDirectory);
        var (samples, samplesNotice) = StoreRecovery.OpenOrQuarantine(inMemory ? SqliteFile.InMemory : Path.Combine(options.DataDirectory, SamplesFile),
            path => new SampleStore(path, options.MaxSamples, options.MaxPendingPredictions, maxSampleAge: options.MaxSampleAge, maxBytes: options.MaxStoreBytes), now);
        try
        {
            var (outbox, outboxNotice) = StoreRecovery.OpenOrQuarantine(inMemory ? SqliteFile.InMemory : Path.Combine(options.DataDirectory, OutboxFile),
                path => new Outbox(path, options.MaxOutboxMessages), now);
            return new AgentStores(samples, outbox, [.. new[] { samplesNotice, outboxNotice }.OfType<string>()]);
        }
        catch
        {
            samples.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Samples.Dispose();
        Outbox.Dispose();
    }
}
