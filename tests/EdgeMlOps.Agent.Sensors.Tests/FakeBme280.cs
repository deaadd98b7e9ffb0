using System.Buffers.Binary;
using System.Device.I2c;

namespace EdgeMlOps.Agent.Sensors.Tests;

/// <summary>
/// An I2C device that answers like a BME280: a 256-byte register file with the chip id, the
/// factory calibration words and the raw ADC values set by the test. Writes set the register
/// pointer (first byte) and store any following bytes.
/// </summary>
internal sealed class FakeBme280 : I2cDevice
{
    private readonly byte[] _registers = new byte[256];
    private int _pointer;

    public FakeBme280(Calibration c, int adcT, int adcP, int adcH, byte chipId = 0x60)
    {
        _registers[0xD0] = chipId;
        var tp = _registers.AsSpan(0x88);
        BinaryPrimitives.WriteUInt16LittleEndian(tp[0..], c.T1);
        BinaryPrimitives.WriteInt16LittleEndian(tp[2..], c.T2);
        BinaryPrimitives.WriteInt16LittleEndian(tp[4..], c.T3);
        BinaryPrimitives.WriteUInt16LittleEndian(tp[6..], c.P1);
        short[] p = [c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9];
        for (var i = 0; i < p.Length; i++) BinaryPrimitives.WriteInt16LittleEndian(tp[(8 + 2 * i)..], p[i]);
        _registers[0xA1] = c.H1;
        BinaryPrimitives.WriteInt16LittleEndian(_registers.AsSpan(0xE1), c.H2);
        _registers[0xE3] = c.H3;
        _registers[0xE4] = (byte)(c.H4 >> 4);
        _registers[0xE5] = (byte)((c.H4 & 0x0F) | ((c.H5 & 0x0F) << 4));
        _registers[0xE6] = (byte)(c.H5 >> 4);
        _registers[0xE7] = (byte)c.H6;
        _registers[0xF7] = (byte)(adcP >> 12);
        _registers[0xF8] = (byte)(adcP >> 4);
        _registers[0xF9] = (byte)((adcP & 0x0F) << 4);
        _registers[0xFA] = (byte)(adcT >> 12);
        _registers[0xFB] = (byte)(adcT >> 4);
        _registers[0xFC] = (byte)((adcT & 0x0F) << 4);
        _registers[0xFD] = (byte)(adcH >> 8);
        _registers[0xFE] = (byte)adcH;
    }

    public override I2cConnectionSettings ConnectionSettings { get; } = new(1, 0x76);

    public override byte ReadByte() => _registers[_pointer++ & 0xFF];

    public override void Read(Span<byte> buffer)
    {
        for (var i = 0; i < buffer.Length; i++) buffer[i] = ReadByte();
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.IsEmpty) return;
        _pointer = buffer[0];
        foreach (var b in buffer[1..])
        {
            // Writes to status/data registers are ignored; the reset register resets nothing here.
            if (_pointer is >= 0xF2 and <= 0xF5) _registers[_pointer] = b;
            _pointer++;
        }
    }

    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }

    internal sealed record Calibration(
        ushort T1, short T2, short T3,
        ushort P1, short P2, short P3, short P4, short P5, short P6, short P7, short P8, short P9,
        byte H1, short H2, byte H3, short H4, short H5, sbyte H6);
}
