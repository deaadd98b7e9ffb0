using EdgeMlOps.Aggregator.Broker;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>MQTT framing followed over arbitrary read boundaries: a packet over the limit is seen from its first bytes.</summary>
public sealed class MqttFrameScannerTests
{
    private static byte[] Packet(byte type, int bodyLength) => [type, .. VariableLength(bodyLength), .. new byte[bodyLength]];

    private static byte[] VariableLength(int value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value % 128);
            value /= 128;
            bytes.Add(value > 0 ? (byte)(b | 0x80) : b);
        }
        while (value > 0);
        return [.. bytes];
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4096)]
    public void PacketsWithinTheLimit_PassWhateverTheReadSizes(int chunk)
    {
        byte[] stream = [.. Packet(0x10, 20), .. Packet(0xC0, 0), .. Packet(0x30, 200), .. Packet(0x30, 16_380), .. Packet(0xE0, 0)];
        var scanner = new MqttFrameScanner(16_384);
        for (var i = 0; i < stream.Length; i += chunk) Assert.Null(scanner.Scan(stream.AsSpan(i, Math.Min(chunk, stream.Length - i))));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4096)]
    public void APacketOverTheLimit_IsSeenWhenItsLengthIsComplete_BeforeItsBody(int chunk)
    {
        byte[] stream = [.. Packet(0x10, 20), 0x30, .. VariableLength(100_000_000), 1, 2, 3];
        var scanner = new MqttFrameScanner(16_384);
        long? refused = null;
        var consumed = 0;
        for (; consumed < stream.Length && refused is null; consumed += chunk) refused = scanner.Scan(stream.AsSpan(consumed, Math.Min(chunk, stream.Length - consumed)));
        Assert.Equal(1 + 4 + 100_000_000L, refused);
        Assert.True(consumed <= 22 + 1 + 4 + chunk, $"noticed after {consumed} bytes");
    }

    [Fact]
    public void ExactlyTheLimit_Passes_OneByteMore_DoesNot()
    {
        Assert.Null(new MqttFrameScanner(1 + 2 + 200).Scan(Packet(0x30, 200)));
        Assert.Equal(1 + 2 + 200L, new MqttFrameScanner(1 + 2 + 199).Scan(Packet(0x30, 200)));
    }

    [Fact]
    public void AFifthLengthByte_IsMalformed()
    {
        Assert.Equal(long.MaxValue, new MqttFrameScanner(long.MaxValue - 1).Scan([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
    }
}
