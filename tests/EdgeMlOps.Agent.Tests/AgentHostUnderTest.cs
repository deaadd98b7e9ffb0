using System.Diagnostics;
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

    /// <summary><c>/v1/health</c> once the API answers; fails if the host exits first (a crash loop).</summary>
    public async Task<JsonElement> HealthAsync()
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (_process.HasExited) Assert.Fail("the agent exited: " + await OutputAsync());
            try
            {
                return await Http.GetFromJsonAsync<JsonElement>("v1/health");
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
