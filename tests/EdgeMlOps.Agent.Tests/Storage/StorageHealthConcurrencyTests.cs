using EdgeMlOps.Agent.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Agent.Tests.Storage;

/// <summary>
/// The health endpoint reads why writes fail while writes of other kinds fail on other threads. Sorting the live
/// dictionary of problems went through its <c>ICollection.CopyTo</c>, which throws when a new kind of problem arrives
/// between its count and its copy: <c>/v1/health</c> would answer 500 just when the disk filled up.
/// </summary>
public class StorageHealthConcurrencyTests
{
    [Fact]
    public async Task TheProblem_ReadWhileNewKindsOfWriteFail_NeverThrows()
    {
        var kinds = Enumerable.Range(0, 32).Select(i => $"write {i:00}").ToArray();
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var health = new StorageHealth();
            using var start = new Barrier(2);
            var failing = Task.Run(() =>
            {
                start.SignalAndWait();
                foreach (var kind in kinds)
                {
                    Assert.Throws<StorageUnavailableException>(() => health.Write(kind, () => throw new SqliteException("database or disk is full", 13)));
                }
            });
            start.SignalAndWait();
            while (!failing.IsCompleted) _ = health.Problem;
            await failing;
            Assert.Equal(kinds.Length, health.Problem.Split("; ").Length);
        }
    }
}
