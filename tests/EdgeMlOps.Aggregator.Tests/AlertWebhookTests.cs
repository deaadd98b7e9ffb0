using System.Net;
using System.Text.Json;
using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Monitoring;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests;

public class AlertWebhookTests
{
    private static readonly TimeSpan[] QuickBackoff = [TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(20)];

    private static DriftReport Report() => new(7, "region-a", 42, 20, 20, 2, 0.1, false,
        [new FeatureDrift(3, "wasserstein", 0.41, 0.1, true, 4000, 1800), new FeatureDrift(9, "jensenshannon", 0.2, 0.1, true, 4000, 1800)], 1800, 900, 0.91);

    [Fact]
    public async Task Alert_IsPostedAsJson_AndRetriedAfterAServerError()
    {
        var port = BrokerPorts.Free();
        using var server = new HttpListener();
        server.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        server.Start();
        var bodies = new List<string>();
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                var context = await server.GetContextAsync();
                using (var reader = new StreamReader(context.Request.InputStream)) bodies.Add(await reader.ReadToEndAsync());
                Assert.Equal("application/json", context.Request.ContentType);
                context.Response.StatusCode = i == 0 ? 503 : 204;
                context.Response.Close();
            }
        });

        await using var webhook = new AlertWebhook(new Uri($"http://127.0.0.1:{port}/hook/"), NullLogger.Instance, backoff: QuickBackoff);
        webhook.Enqueue(Report());
        await serving.WaitAsync(TimeSpan.FromSeconds(20));
        await Eventually(() => webhook.Delivered == 1);

        Assert.Equal(0, webhook.Failed);
        Assert.Equal(bodies[0], bodies[1]);
        using var json = JsonDocument.Parse(bodies[1]);
        Assert.Equal("EdgeMlOps drift: model v7, cohort region-a, window 42: 2 of 20 features drifted: 3 (wasserstein 0.41), 9 (jensenshannon 0.2)", json.RootElement.GetProperty("text").GetString());
        Assert.Equal("region-a", json.RootElement.GetProperty("report").GetProperty("cohort").GetString());
        Assert.Equal(3, json.RootElement.GetProperty("report").GetProperty("driftedFeatures")[0].GetProperty("feature").GetInt32());
    }

    [Fact]
    public async Task DeadEndpoint_IsCountedAsFailedAfterEveryAttempt_AndNothingThrows()
    {
        await using var webhook = new AlertWebhook(new Uri($"http://127.0.0.1:{BrokerPorts.Free()}/"), NullLogger.Instance, backoff: QuickBackoff);
        webhook.Enqueue(Report());
        webhook.Enqueue(Report());
        await Eventually(() => webhook.Failed == 2);
        Assert.Equal(0, webhook.Delivered);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(20);
        }
    }
}
