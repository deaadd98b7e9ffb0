using System.Net;
using System.Text.Json;
using EdgeMlOps.Agent.Http;
using EdgeMlOps.Agent.Tests.Http;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Storage;

/// <summary>A device whose storage fills up: a clear 507 and a degraded health while it lasts, and recovery by itself.</summary>
public class StorageFullTests
{
    [Fact]
    public async Task FullStore_Refuses507_ReportsDegraded_KeepsServing_AndRecoversWhenSpaceReturns()
    {
        await using var device = await OfflineAgent.StartAsync(maxStoreBytes: 32 * 1024);
        await using var api = LocalApiOnAnyPort.Start(device.Agent);
        using var http = new HttpClient { BaseAddress = api.BaseAddress() };
        Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? json = null) => http.SendJsonAsync(method, path, json);

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 2000 && !statuses.Contains(HttpStatusCode.InsufficientStorage); i++)
        {
            statuses.Add((await SendAsync(HttpMethod.Post, "/v1/feedback", $$"""{"features":[{{i}},2,3,4],"label":1}""")).Status);
        }

        Assert.Equal(HttpStatusCode.InsufficientStorage, statuses[^1]);
        Assert.All(statuses[..^1], s => Assert.Equal(HttpStatusCode.OK, s));
        var refused = await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2,3,4],"label":1}""");
        Assert.Equal(HttpStatusCode.InsufficientStorage, refused.Status);
        Assert.Contains("ground truth refused by storage", refused.Body.GetProperty("error").GetString());
        var health = await SendAsync(HttpMethod.Get, "/v1/health");
        Assert.Equal("degraded", health.Body.GetProperty("status").GetString());
        Assert.Contains("full", health.Body.GetProperty("storageNotice").GetString());
        Assert.True(device.Agent.StorageFailures >= 2);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/predict", """{"features":[1,2,3,4]}""")).Status);

        // Space returns (here: the app erases the device's data); the next write clears the state by itself.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, "/v1/data")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/v1/feedback", """{"features":[1,2,3,4],"label":1}""")).Status);
        health = await SendAsync(HttpMethod.Get, "/v1/health");
        Assert.Equal("ok", health.Body.GetProperty("status").GetString());
        Assert.Equal(string.Empty, health.Body.GetProperty("storageNotice").GetString());
    }
}
