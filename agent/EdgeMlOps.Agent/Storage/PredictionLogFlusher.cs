using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Storage;

/// <summary>Writes buffered predictions to the sample store at an interval, batched: serving never waits on SQLite. A refused write is reported, not fatal.</summary>
internal sealed class PredictionLogFlusher(SampleStore store, StorageHealth storage, TimeSpan interval, TimeProvider time, ILogger logger)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                try
                {
                    storage.Write("prediction log", store.FlushPredictions, needsDisk: false);
                }
                catch (Exception ex) when (ex is StorageUnavailableException or SqliteException)
                {
                    logger.PublishFailed("prediction log", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
