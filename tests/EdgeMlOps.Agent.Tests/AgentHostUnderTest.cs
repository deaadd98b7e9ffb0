using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace EdgeMlOps.Agent.Tests;

/// <summary>The real agent host binary on a data directory, offline (its broker unreachable, or <c>broker</c>), with its HTTP API on a free port.</summary>
internal sealed class AgentHostUnderTest : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _output;
    private readonly Task<string> _error;

    public AgentHostUnderTest(string dataDirectory, string deviceId, int port, string? broker = null)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll");
        _process = Process.Start(new ProcessStartInfo("dotnet", [host, "--Agent:DeviceId=" + deviceId, "--Agent:DataDirectory=" + dataDirectory,
            "--Agent:Broker=" + (broker ?? $"mqtt://127.0.0.1:{BrokerPorts.Free()}"), $"--Agent:Http=http://127.0.0.1:{port}/",
            "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        _output = _process.StandardOutput.ReadToEndAsync();
        _error = _process.StandardError.ReadToEndAsync();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
    }

    public HttpClient Http { get; }

    public Process Process => _process;

    /// <summary>Everything the host wrote (complete once it has exited).</summary>
    public async Task<string> OutputAsync() => await _output + await _error;

    /// <summary><c>/v1/health</c> once the API answers (with a model: 200); fails if the host exits first (a crash loop).</summary>
    public async Task<JsonElement> HealthAsync() => (await HealthWithStatusAsync(ready: true)).Body;

    /// <summary>
    /// <c>/v1/health</c> and its status once the API answers — when <paramref name="ready"/>, once it answers 200 (a
    /// model to serve); otherwise the first answer, 503 included; fails if the host exits first (a crash loop).
    /// </summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> HealthWithStatusAsync(bool ready)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited) Assert.Fail("the agent exited: " + await OutputAsync());
            try
            {
                using var response = await Http.GetAsync("v1/health");
                if (ready) response.EnsureSuccessStatusCode();
                return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
            }
            catch (HttpRequestException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        Http.Dispose();
    }
}
