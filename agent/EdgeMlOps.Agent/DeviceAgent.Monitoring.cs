using System.Buffers;
using System.Threading.Channels;
using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Agent;

public sealed partial class DeviceAgent
{
    private readonly object _profileGate = new();
    private WindowProfile? _window;
    private ModelAnnouncement? _windowModel;
    private DateTimeOffset _windowStart;
    private Task? _profileLoop;

    /// <summary>Window profiles published (sketches and counts of served predictions).</summary>
    public long ProfilesPublished => Interlocked.Read(ref _profilesPublished);

    private long _profilesPublished;
    private long _profileCounter;
    private long _sketchesWithheld;

    /// <summary>Windows whose feature sketches were not published because they held fewer rows than <see cref="SketchPolicy.MinRows"/>.</summary>
    public long SketchesWithheld => Interlocked.Read(ref _sketchesWithheld);

    /// <summary>Ticks a window under the row floor is carried over before it is sent without feature sketches.</summary>
    private const int MaxCarriedWindows = 12;

    /// <summary>
    /// Rows waiting to be sketched. Serving only counts a prediction (class, confidence, latency) under
    /// <see cref="_profileGate"/> and queues a copy of its inputs; one background loop folds them into the window's
    /// feature sketches under <see cref="_sketchGate"/>. Sketching never holds up a request, and when it cannot keep
    /// up the queue drops rows (counted): the sketches become a sample, every count stays exact.
    /// </summary>
    private readonly Channel<(WindowProfile Window, float[] Row, int Length)> _sketchRows =
        Channel.CreateBounded<(WindowProfile, float[], int)>(new BoundedChannelOptions(SketchQueue) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });

    private readonly object _sketchGate = new();
    private Task? _sketchLoop;
    private long _sketchRowsDropped;

    /// <summary>Rows queued for sketching at most (784 inputs: about 0.8 MB).</summary>
    private const int SketchQueue = 256;

    /// <summary>Predictions whose inputs were not sketched because the sketching queue was full (their counts were kept).</summary>
    public long SketchRowsDropped => Interlocked.Read(ref _sketchRowsDropped);

    /// <summary>Counts one served prediction in the current window (a new version starts a new window) and queues its inputs for sketching.</summary>
    private void ProfilePrediction(ModelAnnouncement model, ReadOnlySpan<float> features, long label, float confidence, TimeSpan latency)
    {
        if (_options.ProfileWindow <= TimeSpan.Zero) return;
        ProfileReport? finished = null;
        lock (_profileGate)
        {
            if (_window is null || _windowModel?.Version != model.Version)
            {
                finished = CloseWindow();
                _window = new WindowProfile(features.Length, (int)model.Architecture.Classes, CategoricalInputs(model, features.Length));
                _windowModel = model;
                _windowStart = _deps.Time.GetUtcNow();
            }

            _window.AddPrediction(features, label, confidence, latency, sketchFeatures: false);
            if (++_profileCounter % _options.ProfileSampleEvery == 0)
            {
                // Queued under the gate: a window is closed only after every row counted in it has been queued.
                var row = ArrayPool<float>.Shared.Rent(features.Length);
                features.CopyTo(row);
                if (!_sketchRows.Writer.TryWrite((_window, row, features.Length)))
                {
                    ArrayPool<float>.Shared.Return(row);
                    Interlocked.Increment(ref _sketchRowsDropped);
                }
            }

            if (_options.Baseline is { } baseline) _window.AddBaselinePrediction(baseline.Predict(features.ToArray()));
        }

        if (finished is not null) SendProfile(finished);
    }

    /// <summary>Folds queued rows into their window's feature sketches (rows of a window already closed are dropped).</summary>
    private void DrainSketchRows()
    {
        lock (_sketchGate)
        {
            while (_sketchRows.Reader.TryRead(out var item))
            {
                if (ReferenceEquals(item.Window, _window)) item.Window.AddInputs(item.Row.AsSpan(0, item.Length));
                ArrayPool<float>.Shared.Return(item.Row);
            }
        }
    }

    private async Task SketchLoopAsync()
    {
        try
        {
            while (await _sketchRows.Reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false)) DrainSketchRows();
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Ground truth for a prediction of the version this window profiles.</summary>
    private void ProfileOutcome(ulong version, long actual, long predicted, float[] features)
    {
        var baseline = _options.Baseline?.Predict(features);
        lock (_profileGate)
        {
            if (_window is null || _windowModel?.Version != version) return;
            _window.AddOutcome(actual, predicted);
            if (baseline is { } b) _window.AddBaselineOutcome(actual, b);
        }
    }

    /// <summary>
    /// The current window as a report, and a fresh window (under <see cref="_profileGate"/>); its sketches first
    /// pass the device's <see cref="SketchPolicy"/>.
    /// </summary>
    private ProfileReport? CloseWindow()
    {
        DrainSketchRows();
        if (_window is not { } window || _windowModel is not { } model || (window.Predictions == 0 && window.Outcomes == 0)) return null;
        if (!window.ApplyPolicy(_options.SketchPolicy)) Interlocked.Increment(ref _sketchesWithheld);
        window.MemoryMb.Add((float)(Environment.WorkingSet / 1048576.0));
        var report = window.ToProto();
        report.Header = NewHeader();
        report.ModelName = model.ModelName;
        report.ModelVersion = model.Version;
        report.WindowStartUnixMs = _windowStart.ToUnixTimeMilliseconds();
        report.WindowEndUnixMs = _deps.Time.GetUtcNow().ToUnixTimeMilliseconds();
        _window = new WindowProfile(window.Features.Length, window.Classes, window.CategoricalFeatures);
        _windowStart = _deps.Time.GetUtcNow();
        return report;
    }

    private void SendProfile(ProfileReport report)
    {
        Send(_topics.Profile(DeviceId), report.ToByteArray());
        Interlocked.Increment(ref _profilesPublished);
    }

    /// <summary>Publishes the window's profile every <see cref="AgentOptions.ProfileWindow"/> (through the outbox, so offline windows are kept).</summary>
    private async Task ProfileLoopAsync()
    {
        if (_options.ProfileWindow <= TimeSpan.Zero) return;
        using var timer = new PeriodicTimer(_options.ProfileWindow, _deps.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                ProfileReport? report;
                lock (_profileGate)
                {
                    DrainSketchRows();

                    // A window under the row floor waits for more traffic (a quiet device reports less often, not less privately).
                    var carry = _window is { } w && w.SketchedRows > 0 && w.SketchedRows < _options.SketchPolicy.MinRows
                        && _deps.Time.GetUtcNow() - _windowStart < _options.ProfileWindow * MaxCarriedWindows;
                    report = carry ? null : CloseWindow();
                }

                if (report is not null) SendProfile(report);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Publishes the current window now (also on a clean stop); under the row floor, without feature sketches.</summary>
    public void FlushProfile()
    {
        ProfileReport? report;
        lock (_profileGate) report = CloseWindow();
        if (report is not null) SendProfile(report);
    }

    /// <summary>The inputs the signed manifest declares categorical (indices beyond the model's inputs are ignored).</summary>
    private static IEnumerable<int> CategoricalInputs(ModelAnnouncement model, int inputs) =>
        model.Architecture.CategoricalFeatures.Where(f => f < inputs).Select(f => (int)f);

    /// <summary>Sketches of the samples a round trains on: the new version's reference profile is merged from these.</summary>
    private ProfileReport? TrainingProfile(float[] features, int count, int inputDim, int classes, IEnumerable<int> categorical, long[] labels)
    {
        if (count < _options.SketchPolicy.MinRows) return null;
        var profile = new WindowProfile(inputDim, classes, categorical);
        for (var i = 0; i < count; i++)
        {
            profile.AddInputs(features.AsSpan(i * inputDim, inputDim));
            var label = labels[i];
            if (label >= 0 && label < classes) profile.PredictedClasses[label]++;
        }

        profile.ApplyPolicy(_options.SketchPolicy);
        return profile.ToProto();
    }
}
