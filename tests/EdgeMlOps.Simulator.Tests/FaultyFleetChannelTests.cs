using System.Buffers;
using System.Runtime.InteropServices;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>Wire faults applied by the simulator's channel decorator, under an unchanged agent.</summary>
public class FaultyFleetChannelTests
{
    private static readonly Topics Topics = new("f");
    private static readonly string[] Devices = Enumerable.Range(0, 200).Select(i => $"dev-{i:D5}").ToArray();

    private static async Task<(IFleetChannel Device, List<ModelUpdate> Received)> OpenAsync(SimulatedFaults faults, string deviceId)
    {
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        var received = new List<ModelUpdate>();
        var aggregator = hub.Create(new FleetChannelOptions("aggregator"), NullLoggerFactory.Instance);
        aggregator.MessageReceived = (_, payload) =>
        {
            received.Add(ModelUpdate.Parser.ParseFrom(payload));
            return Task.CompletedTask;
        };
        await aggregator.SubscribeAsync([Topics.AllDevices("update")], CancellationToken.None);
        await aggregator.ConnectAsync(CancellationToken.None);
        var device = new FaultyChannelFactory(hub, faults, "f", TimeProvider.System).Create(new FleetChannelOptions(deviceId), NullLoggerFactory.Instance);
        await device.ConnectAsync(CancellationToken.None);
        return (device, received);
    }

    private static ModelUpdate Update(Tensor tensor)
    {
        var update = new ModelUpdate { RoundId = "r1", SampleCount = 3 };
        update.Delta.Add(tensor);
        return update;
    }

    private static Tensor Fp32(params float[] values)
    {
        var tensor = new Tensor { Name = "w", Encoding = TensorEncoding.Float32Le, Data = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        tensor.Dims.Add(values.Length);
        return tensor;
    }

    private static float[] Decoded(ModelUpdate update)
    {
        var values = new float[update.Delta[0].Dims[0]];
        TensorCodec.Decode(update.Delta[0], values);
        return values;
    }

    [Fact]
    public async Task ByzantineDevice_UpdateIsSignFlippedOnTheWire_HonestOneUntouched()
    {
        var faults = new SimulatedFaults(1, 0, 0, TimeSpan.Zero, byzantineFraction: 0.3, attack: "sign-flip", attackScale: 10);
        foreach (var (id, byzantine) in new[] { (Devices.First(faults.IsByzantine), true), (Devices.First(d => !faults.IsByzantine(d)), false) })
        {
            var (device, received) = await OpenAsync(faults, id);
            await device.PublishAsync(Topics.Update(id), Update(Fp32(0.5f, -1f, 2f)).ToByteArray(), retain: false, CancellationToken.None);
            var update = Assert.Single(received);
            Assert.Equal(byzantine ? [-5f, 10f, -20f] : [0.5f, -1f, 2f], Decoded(update));
            Assert.Equal(("r1", 3UL), (update.RoundId, update.SampleCount));
        }
    }

    [Fact]
    public async Task ByzantineDevice_CompressedUpdate_IsDecodedTamperedAndSentAsFp32()
    {
        var faults = new SimulatedFaults(1, 0, 0, TimeSpan.Zero, byzantineFraction: 0.3, attack: "scale", attackScale: 4);
        var id = Devices.First(faults.IsByzantine);
        var (device, received) = await OpenAsync(faults, id);
        var layout = new EdgeMlOps.Shared.Models.ParameterTensor("w", [3], 0, 3);
        var half = TensorCodec.EncodeFloat16(layout, [0.5f, -1f, 2f]);
        await device.PublishAsync(Topics.Update(id), Update(half).ToByteArray(), retain: false, CancellationToken.None);
        var update = Assert.Single(received);
        Assert.Equal(TensorEncoding.Float32Le, update.Delta[0].Encoding);
        Assert.Equal([2f, -4f, 8f], Decoded(update));
    }

    [Fact]
    public async Task DroppingDevice_NeverSeesItsTask_OthersDo()
    {
        var faults = new SimulatedFaults(3, dropout: 0.5, 0, TimeSpan.Zero);
        var dropping = Devices.First(d => faults.DropsOut(d, "r1"));
        var staying = Devices.First(d => !faults.DropsOut(d, "r1"));
        var hub = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        var aggregator = hub.Create(new FleetChannelOptions("aggregator"), NullLoggerFactory.Instance);
        await aggregator.ConnectAsync(CancellationToken.None);
        var seen = new List<string>();
        foreach (var id in new[] { dropping, staying })
        {
            var channel = new FaultyChannelFactory(hub, faults, "f", TimeProvider.System).Create(new FleetChannelOptions(id), NullLoggerFactory.Instance);
            channel.MessageReceived = (topic, _) =>
            {
                seen.Add(topic);
                return Task.CompletedTask;
            };
            await channel.SubscribeAsync([Topics.Task(id)], CancellationToken.None);
            await channel.ConnectAsync(CancellationToken.None);
            await aggregator.PublishAsync(Topics.Task(id), new Signed { Body = new RoundTask { RoundId = "r1" }.ToByteString() }.ToByteArray(), retain: false, CancellationToken.None);
        }

        Assert.Equal([Topics.Task(staying)], seen);
    }

    [Fact]
    public async Task Straggler_UpdateLeavesLate()
    {
        var faults = new SimulatedFaults(1, 0, stragglerProbability: 1, stragglerDelay: TimeSpan.FromMilliseconds(400));
        var (device, received) = await OpenAsync(faults, Devices[0]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await device.PublishAsync(Topics.Update(Devices[0]), Update(Fp32(1f)).ToByteArray(), retain: false, CancellationToken.None);
        Assert.True(clock.ElapsedMilliseconds >= 390, $"{clock.ElapsedMilliseconds} ms");
        Assert.Single(received);
    }
}
