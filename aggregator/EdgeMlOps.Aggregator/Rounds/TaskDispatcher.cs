using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Aggregator.Rounds;

/// <summary>Builds round tasks from the configured training settings and sends each device its own copy, signed for it.</summary>
public sealed class TaskDispatcher(AggregatorOptions options, AggregatorHeaders headers, Trust.KeyRing keys, FleetPublisher publisher)
{
    private readonly Topics _topics = new(options.Fleet);

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

    /// <summary>Sends <paramref name="task"/> to each device: a copy naming the device, with a fresh header, signed.</summary>
    public Task SendAsync(RoundTask task, IEnumerable<string> deviceIds, CancellationToken cancellationToken) =>
        Task.WhenAll(deviceIds.Select(async deviceId =>
        {
            var copy = task.Clone();
            copy.Header = headers.Next();
            copy.DeviceId = deviceId;
            await publisher.PublishAsync(_topics.Task(deviceId), keys.Sign(copy).ToByteArray(), cancellationToken).ConfigureAwait(false);
        }));
}
