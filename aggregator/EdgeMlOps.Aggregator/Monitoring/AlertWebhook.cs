using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Monitoring;

/// <summary>
/// Posts drift alerts to an HTTP endpoint (<c>Monitoring:AlertWebhook</c>): a JSON body with a one-line
/// <c>text</c> (what chat tools display) and the full <c>report</c>. Alerts queue (bounded: the oldest waiting
/// one is dropped when 100 wait) and go out from one background loop, so a slow or dead endpoint never delays
/// drift evaluation; each is tried three times (1 s and 4 s apart) with a 10-second timeout, then counted as failed.
/// </summary>
public sealed partial class AlertWebhook : IAsyncDisposable
{
    private readonly Uri _endpoint;
    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly Channel<DriftReport> _queue = Channel.CreateBounded<DriftReport>(new BoundedChannelOptions(100) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private readonly TimeSpan[] _backoff;
    private long _delivered;
    private long _failed;

    public AlertWebhook(Uri endpoint, ILogger logger, HttpMessageHandler? handler = null, TimeSpan[]? backoff = null)
    {
        _endpoint = endpoint;
        _logger = logger;
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = TimeSpan.FromSeconds(10);
        _backoff = backoff ?? [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(4)];
        _loop = Task.Run(SendLoopAsync);
    }

    /// <summary>Alerts the endpoint acknowledged with a 2xx.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Alerts given up after every attempt failed.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    public void Enqueue(DriftReport report) => _queue.Writer.TryWrite(report);

    /// <summary>The one-line summary put in the body's <c>text</c>.</summary>
    public static string Summary(DriftReport report)
    {
        var predictions = report.PredictionDrift
            ? FormattableString.Invariant($"; prediction drift: {report.DriftedOutputs.Count} of {report.OutputsJudged} outputs moved: {DriftText.Outputs(report)}")
            : string.Empty;
        return FormattableString.Invariant($"EdgeMlOps drift: model v{report.Version}, cohort {report.Cohort}, window {report.Window}: {report.Drifted} of {report.Judged} features drifted{(report.DatasetDrift ? " (dataset drift)" : string.Empty)}: {DriftText.Features(report)}{predictions}");
    }

    private async Task SendLoopAsync()
    {
        try
        {
            await foreach (var report in _queue.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(new AlertMessage(Summary(report), report), MonitoringJson.Default.AlertMessage);
                for (var attempt = 0; ; attempt++)
                {
                    string? error;
                    try
                    {
                        using var content = new ByteArrayContent(body);
                        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                        using var response = await _http.PostAsync(_endpoint, content, _stopping.Token).ConfigureAwait(false);
                        error = response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}";
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !_stopping.IsCancellationRequested)
                    {
                        error = ex.Message;
                    }

                    if (error is null)
                    {
                        Interlocked.Increment(ref _delivered);
                        break;
                    }

                    if (attempt >= _backoff.Length)
                    {
                        Interlocked.Increment(ref _failed);
                        LogGaveUp(_endpoint, attempt + 1, error);
                        break;
                    }

                    await Task.Delay(_backoff[attempt], _stopping.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        _http.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drift alert to {Endpoint} not delivered after {Attempts} attempts: {Error}")]
    private partial void LogGaveUp(Uri endpoint, int attempts, string error);
}

/// <summary>The webhook body.</summary>
public sealed record AlertMessage(string Text, DriftReport Report);
