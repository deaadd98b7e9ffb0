using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using EdgeMlOps.Agent.Storage;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Tests.Storage;

/// <summary>
/// A data directory that became read-only (a remounted SD card, a full overlay): the agent serves the model it has,
/// refuses ground truth with the reason, says it is degraded, and takes ground truth again once the disk is writable.
/// The directory is a tmpfs remounted read-only (root cannot be stopped by file modes); the test needs root, as CI has.
/// </summary>
public class ReadOnlyDirectoryTests
{
    [Fact]
    public async Task AgentHost_OnAReadOnlyDataDirectory_ServesItsModel_RefusesFeedbackSayingWhy_AndRecoversWhenWritable()
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-readonly-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        Mount("-t", "tmpfs", "-o", "size=16m", "edgemlops-test", dir);
        try
        {
            OfflineAgent.Install(new ModelStore(Path.Combine(dir, "models")), ModelWeights.Initialize(OfflineAgent.Spec, 5), 3);
            new SampleStore(Path.Combine(dir, "agent.db"), 100, 100).Dispose();
            new Outbox(Path.Combine(dir, "outbox.db"), 100).Dispose();
            Mount("-o", "remount,ro", dir);

            var port = OfflineAgent.FreePort();
            using var process = StartHost(dir, port);
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
                var health = await HealthAsync(http, process);
                Assert.Equal("degraded", health.GetProperty("status").GetString());
                Assert.Contains("read-only", health.GetProperty("storageNotice").GetString()!, StringComparison.OrdinalIgnoreCase);
                Assert.Equal(3UL, health.GetProperty("modelVersion").GetUInt64());

                using (var predicted = await http.PostAsync("v1/predict", new StringContent("""{"features":[1,2,3,4]}""")))
                    Assert.True(predicted.IsSuccessStatusCode, await predicted.Content.ReadAsStringAsync());
                using (var refused = await http.PostAsync("v1/feedback", new StringContent("""{"features":[1,2,3,4],"label":1}""")))
                {
                    Assert.Equal((HttpStatusCode)507, refused.StatusCode);
                    Assert.Contains("read-only", await refused.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
                }

                Mount("-o", "remount,rw", dir);
                using var restart = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await process.WaitForExitAsync(restart.Token);
                Assert.Equal(ReadOnlyDataDirectory.RestartExitCode, process.ExitCode);
                Assert.Contains("writable again", await Output + await Error, StringComparison.Ordinal);
            }
            finally
            {
                process.Kill();
                await process.WaitForExitAsync();
            }

            // What the service manager does next: the agent starts on its stores on disk and takes ground truth again.
            using var restarted = StartHost(dir, port);
            try
            {
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
                var health = await HealthAsync(http, restarted);
                Assert.Equal("ok", health.GetProperty("status").GetString());
                using (var accepted = await http.PostAsync("v1/feedback", new StringContent("""{"features":[1,2,3,4],"label":1}""")))
                    Assert.True(accepted.IsSuccessStatusCode, await accepted.Content.ReadAsStringAsync());
            }
            finally
            {
                restarted.Kill();
                await restarted.WaitForExitAsync();
            }

            using (var store = new SampleStore(Path.Combine(dir, "agent.db"), 100, 100)) Assert.Equal(1, store.SampleCount);
        }
        finally
        {
            Mount("-o", "remount,rw", dir);
            Unmount(dir);
            Directory.Delete(dir, recursive: true);
        }
    }

    private Process StartHost(string dir, int port)
    {
        var host = Path.Combine(AppContext.BaseDirectory, "edgemlops-agent.dll");
        var process = Process.Start(new ProcessStartInfo("dotnet", [host, "--Agent:DeviceId=dev-ro", "--Agent:DataDirectory=" + dir,
            $"--Agent:Broker=mqtt://127.0.0.1:{OfflineAgent.FreePort()}", $"--Agent:Http=http://127.0.0.1:{port}/",
            "--Agent:TrustedRoots:0=" + Convert.ToBase64String(EdgeMlOps.Shared.Trust.SigningKeyPair.Generate().PublicKey)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        Output = process.StandardOutput.ReadToEndAsync();
        Error = process.StandardError.ReadToEndAsync();
        return process;
    }

    private Task<string> Output { get; set; } = Task.FromResult("");

    private Task<string> Error { get; set; } = Task.FromResult("");

    private async Task<JsonElement> HealthAsync(HttpClient http, Process process)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (process.HasExited) Assert.Fail("the agent exited: " + await Error);
            try
            {
                return await http.GetFromJsonAsync<JsonElement>("v1/health");
            }
            catch (HttpRequestException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(100);
            }
        }
    }

    private static void Mount(params string[] arguments)
    {
        using var mount = Process.Start(new ProcessStartInfo("mount", arguments) { RedirectStandardError = true })!;
        var error = mount.StandardError.ReadToEnd();
        mount.WaitForExit();
        Assert.True(mount.ExitCode == 0, $"mount {string.Join(' ', arguments)} failed ({error.Trim()}); this test needs root, as CI runs it");
    }

    private static void Unmount(string dir)
    {
        using var umount = Process.Start("umount", [dir]);
        umount.WaitForExit();
    }
}
