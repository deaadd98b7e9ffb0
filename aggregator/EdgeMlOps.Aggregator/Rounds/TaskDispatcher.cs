using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Builds round tasks from the configured training settings and sends each device its own copy, signed for it.</summary>
public sealed class TaskDispatcher(AggregatorOptions options, AggregatorHeaders headers, Trust.KeyRing keys, FleetPublisher publisher)
{
    private readonly Topics _topics = options.Topics;

    /// <summary>The train config from <see cref="RoundOptions"/> (the strategy adds its own fields).</summary>
    public TrainConfig BaseConfig() => new()
    {
        LocalEpochs = (uint)options.Rounds.LocalEpochs,
        BatchSize = (uint)options.Rounds.BatchSize,
        LearningRate = options.Rounds.LearningRate,
        MaxSamples = (uint)options.Rounds.MaxSamplesPerDevice,
    };

    /// <summary>Asks about <c>Monitoring:ReferenceDevicesPerRound</c> of <paramref name="devices"/> for sketches of their training samples.</summary>
    public TrainConfig WithTrainingProfiles(TrainConfig config, int devices)
    {
        var copy = config.Clone();
        copy.TrainingProfileShare = devices == 0 ? 0 : (float)Math.Min(1.0, (double)options.Monitoring.ReferenceDevicesPerRound / devices);
        return copy;
    }

    /// <summary>A TRAIN task; <paramref name="seedSalt"/> (round or task number) varies the devices' local shuffling.</summary>
    public RoundTask TrainTask(string roundId, long roundNumber, ulong baseVersion, TrainConfig config, DateTimeOffset deadline, ulong seedSalt) => new()
    {
        RoundId = roundId,
        RoundNumber = (ulong)roundNumber,
        ModelName = options.ModelName,
        BaseVersion = baseVersion,
        Kind = TaskKind.Train,
        Config = config,
        DeadlineUnixMs = deadline.ToUnixTimeMilliseconds(),
        Seed = (ulong)options.Seed * 1_000_003UL + seedSalt,
    };

    /// <summary>
    /// Sends <paramref name="task"/> to each device: a copy naming the device, with a fresh header, signed. A train task
    /// sent to several devices gives each its slot in the check-in window (<see cref="CheckInSlots"/>).
    /// </summary>
    public Task SendAsync(RoundTask task, IEnumerable<string> deviceIds, CancellationToken cancellationToken)
    {
        var devices = deviceIds.ToArray();
        var opened = DateTimeOffset.FromUnixTimeMilliseconds(task.DeadlineUnixMs) - options.Rounds.ReportDeadline;
        var slots = task.Kind == TaskKind.Train ? CheckInSlots(opened, options.Rounds.CheckInWindow, devices.Length) : new long[devices.Length];
        return Task.WhenAll(devices.Select(async (deviceId, i) =>
        {
            var copy = task.Clone();
            copy.Header = headers.Next();
            copy.DeviceId = deviceId;
            copy.StartAfterUnixMs = slots[i];
            await publisher.PublishAsync(_topics.Task(deviceId), keys.Sign(copy).ToByteArray(), cancellationToken).ConfigureAwait(false);
        }));
    }

    /// <summary>
    /// Pace steering: start times for <paramref name="devices"/> devices spread evenly over <paramref name="window"/> from
    /// <paramref name="opened"/>, in selection order (itself a seeded random order), Unix ms; all zero without a window.
    /// </summary>
    public static long[] CheckInSlots(DateTimeOffset opened, TimeSpan window, int devices)
    {
        var slots = new long[devices];
        if (window <= TimeSpan.Zero || devices < 2) return slots;
        for (var i = 0; i < devices; i++) slots[i] = (opened + window * i / devices).ToUnixTimeMilliseconds();
        return slots;
    }
}
