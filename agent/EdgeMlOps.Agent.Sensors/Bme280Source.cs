using System.Device.I2c;
using System.Runtime.CompilerServices;
using EdgeMlOps.Agent.Inputs;
using Iot.Device.Bmxx80;
using Iot.Device.Bmxx80.PowerMode;

namespace EdgeMlOps.Agent.Sensors;

/// <summary>
/// A Bosch BME280 on I2C (Iot.Device.Bindings driver) as an input source: every interval one
/// forced measurement becomes the feature vector [temperature °C, pressure hPa, relative humidity %].
/// A failed or incomplete reading is counted and skipped.
/// </summary>
public sealed class Bme280Source : IInputSource, IDisposable
{
    private readonly Bme280 _sensor;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private long _failedReadings;

    /// <param name="device">The I2C device at the sensor's address (0x76 or 0x77).</param>
    /// <param name="interval">Time between readings.</param>
    /// <param name="time">Clock for the interval.</param>
    public Bme280Source(I2cDevice device, TimeSpan interval, TimeProvider? time = null)
    {
        _sensor = new Bme280(device)
        {
            TemperatureSampling = Sampling.Standard,
            PressureSampling = Sampling.Standard,
            HumiditySampling = Sampling.Standard,
        };
        _interval = interval;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Opens the sensor on a Linux I2C bus (e.g. bus 1 on a Raspberry Pi).</summary>
    public static Bme280Source Open(int bus, int address, TimeSpan interval) =>
        new(I2cDevice.Create(new I2cConnectionSettings(bus, address)), interval);

    public string Name => "bme280";

    public long FailedReadings => Interlocked.Read(ref _failedReadings);

    /// <summary>One forced measurement, or null if the sensor did not deliver all three values.</summary>
    public float[]? ReadOnce()
    {
        _sensor.SetPowerMode(Bmx280PowerMode.Forced);
        var reading = _sensor.Read();
        if (reading.Temperature is not { } t || reading.Pressure is not { } p || reading.Humidity is not { } h)
        {
            Interlocked.Increment(ref _failedReadings);
            return null;
        }

        return [(float)t.DegreesCelsius, (float)p.Hectopascals, (float)h.Percent];
    }

    public async IAsyncEnumerable<InputRecord> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            float[]? features;
            try
            {
                features = ReadOnce();
            }
            catch (IOException)
            {
                Interlocked.Increment(ref _failedReadings);
                features = null;
            }

            if (features is not null) yield return new InputRecord(features, null);
            await Task.Delay(_interval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public void Dispose() => _sensor.Dispose();
}
