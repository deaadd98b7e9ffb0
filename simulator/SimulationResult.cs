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
    double Seconds);

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
        w.WriteNumber("seed", o.Seed);
        w.WriteNumber("dropout", o.Dropout);
        w.WriteNumber("overSelection", o.OverSelection);
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
            w.WriteNumber("seconds", Math.Round(r.Seconds, 4));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("final");
        Number(w, "accuracy", FinalAccuracy);
        Number(w, "loss", FinalLoss);
        w.WriteNumber("setupSeconds", Math.Round(SetupSeconds, 3));
        w.WriteNumber("roundsSeconds", Math.Round(RoundsSeconds, 3));
        w.WriteNumber("megabytesPerDevice", Math.Round(MegabytesPerDevice, 3));
        w.WriteNumber("devicesOnline", DevicesOnline);
        w.WriteNumber("brokerDroppedMessages", BrokerDroppedMessages);
        w.WriteNumber("sharedInferenceSessions", SharedInferenceSessions);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, Math.Round(value, 6));
        else w.WriteNull(name);
    }
}
