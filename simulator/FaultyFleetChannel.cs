using System.Buffers;
using System.Runtime.InteropServices;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// A simulated device's link to the fleet, with its faults applied on the wire: a device that drops
/// out of a round never sees the task; a straggler's update leaves late (a slow uplink: what the
/// device sends after it waits too); a Byzantine device's update is rewritten before it leaves. The
/// agent above is the shipped one and knows nothing of this.
/// </summary>
public sealed class FaultyFleetChannel(IFleetChannel inner, string deviceId, SimulatedFaults faults, Topics topics, TimeProvider time) : DelegatingFleetChannel(inner)
{
    private readonly string _taskTopic = topics.Task(deviceId);
    private readonly string _updateTopic = topics.Update(deviceId);

    public override async Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken)
    {
        if (topic == _updateTopic && TryParse(payload) is { } update)
        {
            var delay = faults.ReportDelay(deviceId, update.RoundId);
            if (delay > TimeSpan.Zero) await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            if (faults.IsByzantine(deviceId) && !faults.FlipsLabels(deviceId)) payload = Tamper(update).ToByteArray();
        }

        return await base.PublishAsync(topic, payload, retain, cancellationToken).ConfigureAwait(false);
    }

    protected override bool Delivers(string topic, ReadOnlySequence<byte> payload) => !DropsOut(topic, payload);

    private bool DropsOut(string topic, ReadOnlySequence<byte> payload)
    {
        if (topic != _taskTopic) return false;
        RoundTask task;
        try
        {
            task = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(payload).Body);
        }
        catch (InvalidProtocolBufferException)
        {
            return false; // the agent counts it as malformed
        }

        return faults.DropsOut(deviceId, task.RoundId);
    }

    private static ModelUpdate? TryParse(byte[] payload)
    {
        try
        {
            return ModelUpdate.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>Decodes the whole delta (whatever its encoding), applies the attack, and sends it as fp32: an attacker need not compress.</summary>
    private ModelUpdate Tamper(ModelUpdate update)
    {
        var lengths = update.Delta.Select(t => checked((int)t.Dims.Aggregate(1L, (a, d) => a * d))).ToArray();
        var delta = new float[lengths.Sum()];
        var offset = 0;
        for (var i = 0; i < lengths.Length; i++)
        {
            TensorCodec.Decode(update.Delta[i], delta.AsSpan(offset, lengths[i]));
            offset += lengths[i];
        }

        faults.TamperUpdate(deviceId, update.RoundId, delta);
        var tampered = update.Clone();
        tampered.Delta.Clear();
        offset = 0;
        for (var i = 0; i < lengths.Length; i++)
        {
            var original = update.Delta[i];
            var tensor = new Tensor { Name = original.Name, Encoding = TensorEncoding.Float32Le, Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(delta.AsSpan(offset, lengths[i]))) };
            tensor.Dims.AddRange(original.Dims);
            tampered.Delta.Add(tensor);
            offset += lengths[i];
        }

        return tampered;
    }
}

/// <summary>Opens each simulated device's channel through <paramref name="inner"/> and wraps it with that device's faults.</summary>
public sealed class FaultyChannelFactory(IFleetChannelFactory inner, SimulatedFaults faults, string fleet, TimeProvider time) : IFleetChannelFactory
{
    private readonly Topics _topics = new(fleet);

    public string Address => inner.Address;

    public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) =>
        new FaultyFleetChannel(inner.Create(options, loggers), options.ClientId, faults, _topics, time);
}
