using System.Diagnostics;
using System.Net;
using System.Text;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;
using Microsoft.Data.Sqlite;

namespace EdgeMlOps.Agent.Tests;

/// <summary>kill -9 the real agent process while it writes, and check that everything reopens cleanly.</summary>
public class CrashSafetyTests
{
    [Fact]
    public async Task Kill9_WhileWriting_LeavesStoresThatOpenCleanly_AndKeepsAcknowledgedSamples()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-crash-" + Guid.NewGuid().ToString("N"));
        OfflineAgent.Install(new ModelStore(Path.Combine(dir, "models")), ModelWeights.Initialize(OfflineAgent.Spec, 2), 5);
        var acknowledged = 0;
        var random = new Random(3);
        for (var run = 0; run < 4; run++)
        {
            var port = BrokerPorts.Free();
            using var agent = StartHost(dir, port);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(2) };
            await WaitHealthyAsync(http, agent);

            using var stop = new CancellationTokenSource();
            var writer = Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        using var feedback = await http.PostAsync("/v1/feedback", Json("""{"features":[1,2,3,4],"label":1}"""));
                        if (feedback.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref acknowledged);
                        using var _ = await http.PostAsync("/v1/predict", Json("""{"features":[4,3,2,1]}"""));
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        return; // the process is gone
                    }
                }
            });

            await Task.Delay(150 + random.Next(300));
            agent.Kill(); // SIGKILL: no shutdown code runs
            await agent.WaitForExitAsync();
            stop.Cancel();
            await writer;
        }

        Assert.True(acknowledged > 0);
        foreach (var db in new[] { "agent.db", "outbox.db" })
        {
            using var connection = new SqliteConnection($"Data Source={Path.Combine(dir, db)};Pooling=False");
            connection.Open();
            using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", check.ExecuteScalar());
        }

        using var store = new SampleStore(Path.Combine(dir, "agent.db"), 10_000, 100);
        Assert.True(store.SampleCount >= acknowledged, $"{store.SampleCount} samples stored, {acknowledged} acknowledged");
        Assert.Equal(5UL, new ModelStore(Path.Combine(dir, "models")).LoadCurrent().Model!.Announcement.Version);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static Process StartHost(string dir, int port)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll");
        return Process.Start(new ProcessStartInfo("dotnet",
        [
            host, "--Agent:DeviceId=crash-1", "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey), $"--Agent:Broker=mqtt://127.0.0.1:{BrokerPorts.Free()}",
            $"--Agent:DataDirectory={dir}", $"--Agent:Http=http://127.0.0.1:{port}/", "--Agent:MaxSamples=100000",
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process agent)
    {
        // Wait for the agent to say it listens, then for it to serve.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            string? line;
            while ((line = await agent.StandardOutput.ReadLineAsync(timeout.Token)) is not null && !line.Contains("Local model API listening", StringComparison.Ordinal))
            {
            }

            if (line is null) throw new InvalidOperationException("agent exited before listening: " + await agent.StandardError.ReadToEndAsync());
        }

        for (var i = 0; i < 300; i++)
        {
            if (agent.HasExited) throw new InvalidOperationException("agent exited: " + await agent.StandardError.ReadToEndAsync());
            try
            {
                using var response = await http.GetAsync("/v1/health");
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("agent did not become healthy");
    }
}
