using System.Buffers;
using System.Threading.Channels;
using EdgeMlOps.Agent.Messaging;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Monitoring;

/// <summary>
/// Profiles what the device serves in windows of <see cref="AgentOptions.ProfileWindow"/>: exact counts (predicted
/// classes, confidence, latency, ground truth) and mergeable sketches of the inputs (and of a regressor's or multi-label
/// classifier's output values), sent as one
/// <see cref="ProfileReport"/> per window through the outbox (offline windows are kept). Raw inputs never leave.
/// </summary>
internal sealed class WindowProfiler
{
    /// <summary>Ticks a window under the row floor is carried over before it is sent without feature sketches.</summary>
    private const int MaxCarriedWindows = 12;

    /// <summary>Rows queued for sketching at most (784 inputs: about 0.8 MB).</summary>
    private const int SketchQueue = 256;

    private readonly AgentOptions _options;
    private readonly TimeProvider _time;
    private readonly MessageHeaders _headers;
    private readonly Action<ProfileReport> _send;
    private readonly object _gate = new();

    /// <summary>
    /// Rows waiting to be sketched. Serving only counts a prediction (class, confidence, latency) under
    /// <see cref="_gate"/> and queues a copy of its inputs (followed by its output values, if the window profiles
    /// outputs); one background loop folds them into the window's sketches under <see cref="_sketchGate"/>. Sketching
    /// never holds up a request, and when it cannot keep up the queue drops rows (counted): the sketches become a
    /// sample, every count stays exact.
    /// </summary>
    private readonly Channel<(WindowProfile Window, float[] Row, int Length)> _rows =
        Channel.CreateBounded<(WindowProfile, float[], int)>(new BoundedChannelOptions(SketchQueue) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });

    private readonly object _sketchGate = new();
    private WindowProfile? _window;
    private ModelAnnouncement? _windowModel;
    private DateTimeOffset _windowStart;
    private long _counter;
    private long _published;
    private long _withheld;
    private long _rowsDropped;

    /// <summary>A profiler whose finished windows go to <paramref name="send"/> (the outbox).</summary>
    public WindowProfiler(AgentOptions options, TimeProvider time, MessageHeaders headers, Action<ProfileReport> send)
    {
        _options = options;
        _time = time;
        _headers = headers;
        _send = send;
    }

    /// <summary>Window profiles published.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Windows whose feature sketches were not published because they held fewer rows than <see cref="SketchPolicy.MinRows"/>.</summary>
    public long SketchesWithheld => Interlocked.Read(ref _withheld);

    /// <summary>Predictions whose inputs were not sketched because the sketching queue was full (their counts were kept).</summary>
    public long SketchRowsDropped => Interlocked.Read(ref _rowsDropped);

    /// <summary>
    /// Counts one served prediction in the current window (a new version starts a new window) and queues its inputs for
    /// sketching — <paramref name="monitored"/> when given (the features a front end made from the sample: what the
    /// model saw), else the sample itself — with <paramref name="outputs"/>, a regressor's values or a multi-label
    /// classifier's label probabilities (prediction drift). A baseline rule reads the sample.
    /// </summary>
    public void AddPrediction(ModelAnnouncement model, ReadOnlySpan<float> sample, long label, float confidence, TimeSpan latency, float[]? monitored = null, float[]? outputs = null)
    {
        if (_options.ProfileWindow <= TimeSpan.Zero) return;
        var features = monitored is null ? sample : monitored;
        var outputCount = outputs?.Length ?? 0;
        ProfileReport? finished = null;
        lock (_gate)
        {
            if (_window is null || _windowModel?.Version != model.Version || _window.Outputs.Length != outputCount)
            {
                finished = CloseWindow();
                _window = new WindowProfile(features.Length, (int)model.Architecture.Classes, CategoricalInputs(model, features.Length), outputCount);
                _windowModel = model;
                _windowStart = _time.GetUtcNow();
            }

            _window.AddPrediction(features, label, confidence, latency, sketchFeatures: false);
            if (++_counter % _options.ProfileSampleEvery == 0)
            {
                // Queued under the gate: a window is closed only after every row counted in it has been queued.
                var row = ArrayPool<float>.Shared.Rent(features.Length + outputCount);
                features.CopyTo(row);
                outputs?.CopyTo(row, features.Length);
                if (!_rows.Writer.TryWrite((_window, row, features.Length + outputCount)))
                {
                    ArrayPool<float>.Shared.Return(row);
                    Interlocked.Increment(ref _rowsDropped);
                }
            }

            if (_options.Baseline is { } baseline) _window.AddBaselinePrediction(baseline.Predict(sample.ToArray()));
        }

        if (finished is not null) Send(finished);
    }

    /// <summary>Ground truth for a prediction of the version this window profiles.</summary>
    public void AddOutcome(ulong version, long actual, long predicted, float[] features)
    {
        var baseline = _options.Baseline?.Predict(features);
        lock (_gate)
        {
            if (_window is null || _windowModel?.Version != version) return;
            _window.AddOutcome(actual, predicted);
            if (baseline is { } b) _window.AddBaselineOutcome(actual, b);
        }
    }

    /// <summary>Sends the current window now (also on a clean stop); under the row floor, without feature sketches.</summary>
    public void Flush()
    {
        ProfileReport? report;
        lock (_gate) report = CloseWindow();
        if (report is not null) Send(report);
    }

    /// <summary>Folds queued rows into sketches as they come, and sends a window every <see cref="AgentOptions.ProfileWindow"/>.</summary>
    public Task RunAsync(CancellationToken stopping) => Task.WhenAll(SketchLoopAsync(stopping), WindowLoopAsync(stopping));

    /// <summary>The inputs the signed manifest declares categorical (indices beyond the model's inputs are ignored).</summary>
    public static IEnumerable<int> CategoricalInputs(ModelAnnouncement model, int inputs) =>
        model.Architecture.CategoricalFeatures.Where(f => f < inputs).Select(f => (int)f);

    /// <summary>Sketches of the samples a round trains on (the new version's reference profile is merged from these), or null under the row floor.</summary>
    public static ProfileReport? TrainingProfile(SketchPolicy policy, float[] features, int count, int inputDim, int classes, IEnumerable<int> categorical, long[] labels)
    {
        if (count < policy.MinRows) return null;
        var profile = new WindowProfile(inputDim, classes, categorical);
        for (var i = 0; i < count; i++)
        {
            profile.AddInputs(features.AsSpan(i * inputDim, inputDim));
            var label = labels[i];
            if (label >= 0 && label < classes) profile.PredictedClasses[label]++;
        }

        profile.ApplyPolicy(policy);
        return profile.ToProto();
    }

    private void Send(ProfileReport report)
    {
        _send(report);
        Interlocked.Increment(ref _published);
    }

    /// <summary>Folds queued rows into their window's feature sketches (rows of a window already closed are dropped).</summary>
    private void DrainRows()
    {
        lock (_sketchGate)
        {
            while (_rows.Reader.TryRead(out var item))
            {
                if (ReferenceEquals(item.Window, _window))
                {
                    var width = item.Window.Features.Length;
                    item.Window.AddInputs(item.Row.AsSpan(0, width));
                    item.Window.AddOutputs(item.Row.AsSpan(width, item.Length - width));
                }

                ArrayPool<float>.Shared.Return(item.Row);
            }
        }
    }

    private async Task SketchLoopAsync(CancellationToken stopping)
    {
        await Task.Yield();
        try
        {
            while (await _rows.Reader.WaitToReadAsync(stopping).ConfigureAwait(false)) DrainRows();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task WindowLoopAsync(CancellationToken stopping)
    {
        if (_options.ProfileWindow <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(_options.ProfileWindow, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                ProfileReport? report;
                lock (_gate)
                {
                    DrainRows();

                    // A window under the row floor waits for more traffic (a quiet device reports less often, not less privately).
                    var carry = _window is { } w && w.SketchedRows > 0 && w.SketchedRows < _options.SketchPolicy.MinRows
                        && _time.GetUtcNow() - _windowStart < _options.ProfileWindow * MaxCarriedWindows;
                    report = carry ? null : CloseWindow();
                }

                if (report is not null) Send(report);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The current window as a report, and a fresh window (under <see cref="_gate"/>); its sketches first pass the device's <see cref="SketchPolicy"/>.</summary>
    private ProfileReport? CloseWindow()
    {
        DrainRows();
        if (_window is not { } window || _windowModel is not { } model || (window.Predictions == 0 && window.Outcomes == 0)) return null;
        if (!window.ApplyPolicy(_options.SketchPolicy)) Interlocked.Increment(ref _withheld);
        window.MemoryMb.Add((float)(Environment.WorkingSet / 1048576.0));
        var report = window.ToProto();
        report.Header = _headers.Next();
        report.ModelName = model.ModelName;
        report.ModelVersion = model.Version;
        report.WindowStartUnixMs = _windowStart.ToUnixTimeMilliseconds();
        report.WindowEndUnixMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _window = new WindowProfile(window.Features.Length, window.Classes, window.CategoricalFeatures, window.Outputs.Length);
        _windowStart = _time.GetUtcNow();
        return report;
    }
}
