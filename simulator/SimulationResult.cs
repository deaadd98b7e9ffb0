using System.Text.Json;

namespace EdgeMlOps.Simulator;

/// <summary>One round as the simulator saw it.</summary>
public sealed record RoundResult(
    long Round,
    string Status,
    ulong Version,
    double Accuracy,
    double Loss,
    double TrainLoss,
    int Participants,
    int Selected,
    long Rejected,
    IReadOnlyDictionary<string, long> RejectedByReason,
    long BytesUp,
    long BytesDown,
    double Seconds)
{
    /// <summary>Wall time since the first round started, at the end of this one.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Strategy figures (ε spent, clip norm, staleness…).</summary>
    public IReadOnlyDictionary<string, double> Notes { get; init; } = new Dictionary<string, double>();

    /// <summary>The most accepted updates that reached the aggregator within one second.</summary>
    public int PeakUpdatesPerSecond { get; init; }

    /// <summary>Seconds from the round's first accepted update to its last.</summary>
    public double ArrivalSpreadSeconds { get; init; }

    /// <summary>A multi-task model's held-out score of each task (accuracy or R²); null for another model.</summary>
    public IReadOnlyList<EdgeMlOps.Runtime.TaskScore>? TaskScores { get; init; }

    /// <summary>Samples the round's accepted updates trained on.</summary>
    public long Samples { get; init; }

    /// <summary>With an edge tier: what the gateways sent to the fleet's broker in this round (<see cref="BytesUp"/> is what the devices sent their sites).</summary>
    public long EdgeBytesUp { get; init; }
}

/// <summary>The whole run: settings, per-round results and the final figures.</summary>
public sealed record SimulationResult(
    SimulationOptions Options,
    IReadOnlyList<RoundResult> Rounds,
    double FinalAccuracy,
    double FinalLoss,
    double SetupSeconds,
    double RoundsSeconds,
    double MegabytesPerDevice,
    int DevicesOnline,
    long BrokerDroppedMessages,
    int SharedInferenceSessions)
{
    /// <summary>The run's record (parameters, data fingerprint, contributors, a hash per tensor of every version).</summary>
    public EdgeMlOps.Shared.Tracking.RunRecord? Run { get; init; }

    /// <summary>Updates each replica beside the coordinator took (folded into its shares), by replica name; empty with one aggregator.</summary>
    public IReadOnlyDictionary<string, long> ReplicaUpdates { get; init; } = new Dictionary<string, long>();

    /// <summary>Replicas the coordinator found connected but starved of updates at the end (their broker rule missing); empty when none.</summary>
    public IReadOnlyList<string> ReplicasStarved { get; init; } = [];

    /// <summary>With an edge tier: the partial aggregates the gateways sent, and the bytes of those partials alone.</summary>
    public (long Partials, long Bytes) EdgePartials { get; init; }

    /// <summary>The fleet's model lines (<c>--line</c>): each one's rounds and held-out accuracy.</summary>
    public IReadOnlyList<LineResult> Lines { get; init; } = [];

    /// <summary>The version the fleet started from: its held-out accuracy and its inference artifact's sha256.</summary>
    public (double Accuracy, string InferenceSha256) Initial { get; init; }

    /// <summary>A multi-task model's held-out score of each task for the uploaded file; null for another model.</summary>
    public IReadOnlyList<EdgeMlOps.Runtime.TaskScore>? InitialTaskScores { get; init; }

    /// <summary>Wall time until the held-out accuracy first reached <paramref name="target"/>, or null if it never did.</summary>
    public double? SecondsToReach(double target) => Rounds.FirstOrDefault(r => r.Accuracy >= target)?.ElapsedSeconds;

    /// <summary>Mean bytes a participant sent per round (updates and telemetry).</summary>
    public double BytesUpPerParticipant => Rounds.Sum(r => (double)r.BytesUp) / Math.Max(1, Rounds.Sum(r => r.Participants));

    /// <summary>Writes <c>results.json</c>: settings, a <c>rounds</c> array and a <c>final</c> object. Reflection-free.</summary>
    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        var o = Options;
        w.WriteStartObject();
        w.WriteStartObject("settings");
        w.WriteNumber("devices", o.Devices);
        w.WriteNumber("rounds", o.Rounds);
        w.WriteString("dataset", o.Dataset);
        w.WriteString("partition", o.Partition.ToString());
        w.WriteNumber("fraction", o.Fraction);
        w.WriteNumber("localEpochs", o.LocalEpochs);
        w.WriteNumber("batch", o.Batch);
        w.WriteNumber("lr", o.LearningRate);
        w.WriteString("hidden", string.Join(',', o.Hidden));
        if (o.ModelFile is { } modelFile)
        {
            w.WriteString("modelFile", modelFile);
            w.WriteString("trainable", o.Trainable);
            if (o.PreprocessFile is { } front) w.WriteString("preprocessFile", front);
        }

        w.WriteNumber("seed", o.Seed);
        w.WriteNumber("dropout", o.Dropout);
        w.WriteNumber("overSelection", o.OverSelection);
        w.WriteBoolean("adaptiveOverSelection", o.AdaptiveOverSelection);
        w.WriteString("strategy", o.Strategy);
        foreach (var (key, value) in o.StrategySettings) w.WriteString("strategy." + key, value);
        w.WriteString("mode", o.Mode == EdgeMlOps.Aggregator.RoundMode.Buffered ? "buffered" : "synchronous");
        w.WriteNumber("byzantine", o.ByzantineFraction);
        w.WriteString("attack", o.Attack);
        w.WriteNumber("slowFraction", o.SlowFraction);
        w.WriteEndObject();
        w.WriteStartArray("rounds");
        foreach (var r in Rounds)
        {
            w.WriteStartObject();
            w.WriteNumber("round", r.Round);
            w.WriteString("status", r.Status);
            w.WriteNumber("version", r.Version);
            Number(w, "accuracy", r.Accuracy);
            Number(w, "loss", r.Loss);
            Number(w, "trainLoss", r.TrainLoss);
            w.WriteNumber("participants", r.Participants);
            w.WriteNumber("selected", r.Selected);
            w.WriteNumber("rejected", r.Rejected);
            w.WriteStartObject("rejectedByReason");
            foreach (var (reason, count) in r.RejectedByReason) w.WriteNumber(reason, count);
            w.WriteEndObject();
            w.WriteNumber("bytesUp", r.BytesUp);
            w.WriteNumber("bytesDown", r.BytesDown);
            if (o.EdgeSites > 0) w.WriteNumber("edgeBytesUp", r.EdgeBytesUp);
            w.WriteNumber("seconds", Math.Round(r.Seconds, 4));
            w.WriteNumber("elapsedSeconds", Math.Round(r.ElapsedSeconds, 4));
            foreach (var (key, value) in r.Notes) Number(w, key, value);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("initial");
        Number(w, "accuracy", Initial.Accuracy);
        if (Initial.InferenceSha256 is { } sha) w.WriteString("inferenceSha256", sha);
        w.WriteEndObject();
        if (Lines.Count > 0)
        {
            w.WriteStartObject("lines");
            foreach (var line in Lines)
            {
                w.WriteStartObject(line.Name);
                w.WriteString("model", line.Model);
                Number(w, "initialAccuracy", line.InitialAccuracy);
                Number(w, "finalAccuracy", line.FinalAccuracy);
                w.WriteStartArray("rounds");
                foreach (var r in line.Rounds)
                {
                    w.WriteStartObject();
                    w.WriteNumber("round", r.Round);
                    w.WriteString("status", r.Status);
                    w.WriteNumber("version", r.Version);
                    Number(w, "accuracy", r.Accuracy);
                    w.WriteNumber("participants", r.Participants);
                    w.WriteNumber("selected", r.Selected);
                    w.WriteNumber("rejected", r.Rejected);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        w.WriteStartObject("final");
        Number(w, "accuracy", FinalAccuracy);
        Number(w, "loss", FinalLoss);
        Number(w, "bytesUpPerParticipant", BytesUpPerParticipant);
        if (o.TargetAccuracy > 0) Number(w, "secondsToTarget", SecondsToReach(o.TargetAccuracy) ?? double.NaN);
        w.WriteNumber("setupSeconds", Math.Round(SetupSeconds, 3));
        w.WriteNumber("roundsSeconds", Math.Round(RoundsSeconds, 3));
        w.WriteNumber("megabytesPerDevice", Math.Round(MegabytesPerDevice, 3));
        w.WriteNumber("devicesOnline", DevicesOnline);
        w.WriteNumber("brokerDroppedMessages", BrokerDroppedMessages);
        w.WriteNumber("sharedInferenceSessions", SharedInferenceSessions);
        if (o.EdgeSites > 0)
        {
            w.WriteNumber("edgePartials", EdgePartials.Partials);
            w.WriteNumber("edgePartialBytes", EdgePartials.Bytes);
        }

        if (ReplicaUpdates.Count > 0)
        {
            w.WriteStartObject("replicaUpdates");
            foreach (var (name, updates) in ReplicaUpdates) w.WriteNumber(name, updates);
            w.WriteEndObject();
        }

        if (ReplicasStarved.Count > 0)
        {
            w.WriteStartArray("replicasStarved");
            foreach (var name in ReplicasStarved) w.WriteStringValue(name);
            w.WriteEndArray();
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, Math.Round(value, 6));
        else w.WriteNull(name);
    }
}
