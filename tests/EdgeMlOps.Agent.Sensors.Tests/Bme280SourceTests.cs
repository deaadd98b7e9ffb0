namespace EdgeMlOps.Agent.Sensors.Tests;

public class Bme280SourceTests
{
    // Calibration and raw values from the BMP280/BME280 datasheet's worked example (T and p),
    // with typical humidity trimming values.
    private static readonly FakeBme280.Calibration Trim = new(
        27504, 26435, -1000,
        36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
        75, 362, 0, 313, 50, 30);

    private const int AdcT = 519888, AdcP = 415148, AdcH = 30000;

    /// <summary>The datasheet's floating-point compensation formulas, written independently of the driver.</summary>
    private static (double T, double P, double H) Reference()
    {
        var c = Trim;
        var v1 = (AdcT / 16384.0 - c.T1 / 1024.0) * c.T2;
        var v2 = (AdcT / 131072.0 - c.T1 / 8192.0) * (AdcT / 131072.0 - c.T1 / 8192.0) * c.T3;
        var tFine = v1 + v2;
        var t = tFine / 5120.0;

        v1 = tFine / 2.0 - 64000.0;
        v2 = v1 * v1 * c.P6 / 32768.0;
        v2 += v1 * c.P5 * 2.0;
        v2 = v2 / 4.0 + c.P4 * 65536.0;
        v1 = (c.P3 * v1 * v1 / 524288.0 + c.P2 * v1) / 524288.0;
        v1 = (1.0 + v1 / 32768.0) * c.P1;
        var p = 1048576.0 - AdcP;
        p = (p - v2 / 4096.0) * 6250.0 / v1;
        v1 = c.P9 * p * p / 2147483648.0;
        v2 = p * c.P8 / 32768.0;
        p += (v1 + v2 + c.P7) / 16.0;

        var h = tFine - 76800.0;
        h = (AdcH - (c.H4 * 64.0 + c.H5 / 16384.0 * h)) * (c.H2 / 65536.0 * (1.0 + c.H6 / 67108864.0 * h * (1.0 + c.H3 / 67108864.0 * h)));
        h *= 1.0 - c.H1 * h / 524288.0;
        return (t, p, Math.Clamp(h, 0, 100));
    }

    [Fact]
    public void ReadOnce_ReturnsCompensatedTemperaturePressureHumidity()
    {
        using var source = new Bme280Source(new FakeBme280(Trim, AdcT, AdcP, AdcH), TimeSpan.FromSeconds(1));
        var features = source.ReadOnce();
        var (t, p, h) = Reference();

        Assert.NotNull(features);
        Assert.Equal(25.08, t, 2); // the datasheet's own result
        Assert.Equal(1006.5327, p / 100, 3);
        Assert.Equal(t, features![0], 2);
        Assert.Equal(p / 100, features[1], 1);
        Assert.Equal(h, features[2], 1);
    }

    [Fact]
    public async Task ReadAsync_YieldsUnlabelledReadingsAtTheInterval()
    {
        using var source = new Bme280Source(new FakeBme280(Trim, AdcT, AdcP, AdcH), TimeSpan.FromMilliseconds(1));
        using var cts = new CancellationTokenSource();
        var records = new List<EdgeMlOps.Agent.Inputs.InputRecord>();
        await foreach (var record in source.ReadAsync(cts.Token))
        {
            records.Add(record);
            if (records.Count == 3) break;
        }

        Assert.All(records, r => Assert.Null(r.Label));
        Assert.All(records, r => Assert.Equal(3, r.Features.Length));
        Assert.Equal(0, source.FailedReadings);
    }

    [Fact]
    public void AnotherChipAtTheAddress_IsRefused() =>
        // 0x58 is a BMP280 (no humidity): the driver must not pretend it is a BME280.
        Assert.ThrowsAny<Exception>(() => new Bme280Source(new FakeBme280(Trim, AdcT, AdcP, AdcH, chipId: 0x58), TimeSpan.FromSeconds(1)));
}
