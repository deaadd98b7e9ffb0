using System.Collections.Concurrent;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>What the aggregator knows about one device, from its latest status message.</summary>
public sealed record DeviceInfo(
    string DeviceId,
    DeviceState State,
    string ModelName,
    ulong ModelVersion,
    ulong SampleCount,
    IReadOnlyDictionary<string, string> Tags,
    DateTimeOffset LastSeen,
    ulong LastSequence)
{
    /// <summary>The boot epoch of the latest applied status (0 for a sender without one).</summary>
    public ulong LastBoot { get; init; }

    /// <summary>The device's part in the current rollout, from its latest status.</summary>
    public RolloutProgress? Rollout { get; init; }

    /// <summary>The device's latest shadow test of a rollout's version (counts and latencies), or null.</summary>
    public ShadowReport? Shadow { get; init; }

    /// <summary>The device's latest A/B test of a rollout's version (both arms' counts), or null.</summary>
    public ExperimentReport? Experiment { get; init; }

    public double LatencyP95Ms { get; init; }

    public ulong Predictions { get; init; }

    public ulong RssBytes { get; init; }

    public ulong InferenceErrors { get; init; }

    /// <summary>Ground truth received for the current version since it was switched to.</summary>
    public ulong FeedbackCount { get; init; }

    public ulong FeedbackCorrect { get; init; }

    /// <summary>A regressor's or multi-label classifier's squared errors on that feedback, summed (0 when the report was implausible).</summary>
    public double FeedbackSquaredErrorSum { get; init; }

    /// <summary>The sum of those squared errors' squares.</summary>
    public double FeedbackSquaredErrorSquares { get; init; }

    public ulong RejectedManifests { get; init; }

    public string LastRejection { get; init; } = string.Empty;

    /// <summary>A store the device had to replace at start (its samples are gone), or a write it cannot make (disk full), or empty.</summary>
    public string StorageNotice { get; init; } = string.Empty;

    /// <summary>Why the device is not running what it was told to (fell back to the previous version…), or empty.</summary>
    public string ModelNotice { get; init; } = string.Empty;

    /// <summary>How often the device said it refreshes its status (null: not declared).</summary>
    public TimeSpan? StatusInterval { get; init; }

    /// <summary>
    /// True when the device has been silent for three of its status intervals (plus a little slack): it is
    /// gone without a Last Will reaching the aggregator (or somebody else's status kept it alive), so it is not
    /// counted present any more.
    /// </summary>
    public bool IsSilent(DateTimeOffset now) => StatusInterval is { } interval && now - LastSeen > interval * 3 + DeviceDirectory.SilenceSlack;

    /// <summary>Until when the device's newest verified signed manifest is valid; past it the device is behind (frozen or cut off).</summary>
    public DateTimeOffset? FreshUntil { get; init; }

    /// <summary>Window profiles the device sent without feature sketches (under its row floor).</summary>
    public ulong SketchesWithheld { get; init; }

    /// <summary>Predictions the device counted but did not sketch (its sketching queue was full).</summary>
    public ulong SketchRowsDropped { get; init; }

    /// <summary>Samples the model's front end refused on the device (a count outside the signed range): answered 422, or left out of a training run.</summary>
    public ulong SamplesRefused { get; init; }
}

/// <summary>Which devices are online, on which version, with how much data. Fed by status messages (birth, refresh, death, Last Will).</summary>
public sealed class DeviceDirectory(TimeProvider time)
{
    /// <summary>Allowance on top of three status intervals before a device counts as silent (delivery delays, clock skew).</summary>
    public static readonly TimeSpan SilenceSlack = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, DeviceInfo> _devices = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time;

    public DeviceDirectory()
        : this(TimeProvider.System)
    {
    }

    public int Count => _devices.Count;

    public int OnlineCount => _devices.Values.Count(d => d.State == DeviceState.Online);

    public IReadOnlyCollection<DeviceInfo> All => _devices.Values.ToArray();

    public bool TryGet(string deviceId, out DeviceInfo info) => _devices.TryGetValue(deviceId, out info!);

    /// <summary>Forgets a device (revoked: behind an edge gateway no Last Will marks it offline, so it is taken out here).</summary>
    public bool Remove(string deviceId) => _devices.TryRemove(deviceId, out _);

    /// <summary>
    /// The device's connection is gone (its Last Will, published for the first model, speaks for a model line's agent on
    /// the same connection too): an online device is marked lost until its next status, whatever that status's sequence.
    /// </summary>
    public void ConnectionLost(string deviceId)
    {
        while (_devices.TryGetValue(deviceId, out var old) && old.State == DeviceState.Online)
        {
            if (_devices.TryUpdate(deviceId, old with { State = DeviceState.Lost }, old)) return;
        }
    }

    /// <summary>Applies a status message unless a newer one (by boot epoch, then sequence) was already seen.</summary>
    public void Apply(string deviceId, DeviceStatus status, DateTimeOffset receivedAt)
    {
        var info = new DeviceInfo(
            deviceId,
            status.State,
            status.ModelName,
            status.ModelVersion,
            status.SampleCount,
            new Dictionary<string, string>(status.Tags),
            receivedAt,
            status.Header.Sequence)
        {
            LastBoot = status.Header.Boot,
            Rollout = status.Rollout,
            Shadow = status.Shadow is { } shadow && ReportBounds.IsPlausible(shadow) ? shadow : null,
            Experiment = status.Experiment is { } experiment && ReportBounds.IsPlausible(experiment) ? experiment : null,
            LatencyP95Ms = status.LatencyP95Ms,
            Predictions = status.Predictions,
            RssBytes = status.RssBytes,
            InferenceErrors = status.InferenceErrors,
            FeedbackCount = status.FeedbackCount,
            FeedbackCorrect = status.FeedbackCorrect,
            FeedbackSquaredErrorSum = PlausibleErrors(status) ? status.FeedbackSquaredErrorSum : 0,
            FeedbackSquaredErrorSquares = PlausibleErrors(status) ? status.FeedbackSquaredErrorSquares : 0,
            RejectedManifests = status.RejectedManifests,
            LastRejection = status.LastRejection,
            StorageNotice = status.StorageNotice,
            ModelNotice = status.ModelNotice,
            StatusInterval = status.StatusIntervalSeconds > 0 ? TimeSpan.FromSeconds(status.StatusIntervalSeconds) : null,
            FreshUntil = EdgeMlOps.Shared.Protocol.WireTime.Stated(status.FreshUntilUnixMs),
            SketchesWithheld = status.SketchesWithheld,
            SketchRowsDropped = status.SketchRowsDropped,
            SamplesRefused = status.SamplesRefused,
        };
        _devices.AddOrUpdate(deviceId, info, (_, old) =>
            !PresenceOrder.Supersedes(status.Header, status.State, old.LastBoot, old.LastSequence) ? old
            // A Last Will is built before the device knows its model and rollout, or has counted anything: keep what it last said.
            : status.State == DeviceState.Lost ? info with
            {
                Rollout = old.Rollout, Shadow = old.Shadow, Experiment = old.Experiment, ModelName = old.ModelName, ModelVersion = old.ModelVersion, Tags = old.Tags,
                SketchesWithheld = old.SketchesWithheld, SketchRowsDropped = old.SketchRowsDropped, SamplesRefused = old.SamplesRefused,
            }
            : info);
    }

    /// <summary>
    /// Forgets every device not heard from for longer than <paramref name="after"/> that is not online keeping to its
    /// status interval — offline, lost, or silent past three intervals — and returns them. An online device that never
    /// declared its interval is kept: its silence cannot be told from quiet. A device forgotten here is added anew by its
    /// next status, whatever its boot epoch and sequence.
    /// </summary>
    public IReadOnlyList<DeviceInfo> ForgetSilent(TimeSpan after)
    {
        var now = _time.GetUtcNow();
        var gone = new List<DeviceInfo>();
        foreach (var (id, info) in _devices)
        {
            if (now - info.LastSeen <= after || (info.State == DeviceState.Online && !info.IsSilent(now))) continue;
            if (_devices.TryRemove(KeyValuePair.Create(id, info))) gone.Add(info); // a status applied meanwhile keeps the device
        }

        return gone;
    }

    /// <summary>A status's squared errors that cannot be true are dropped (read as no errors), not trusted (<see cref="ReportBounds.SquaredErrors"/>).</summary>
    private static bool PlausibleErrors(DeviceStatus status) => ReportBounds.SquaredErrors(status.FeedbackSquaredErrorSum, status.FeedbackSquaredErrorSquares, status.FeedbackCount);

    /// <summary>Online, not silent devices that hold labelled samples, ordered by id (so seeded selection is reproducible).</summary>
    public IReadOnlyList<DeviceInfo> Eligible()
    {
        var now = _time.GetUtcNow();
        return _devices.Values.Where(d => d.State == DeviceState.Online && d.SampleCount > 0 && !d.IsSilent(now))
            .OrderBy(d => d.DeviceId, StringComparer.Ordinal).ToArray();
    }
}
