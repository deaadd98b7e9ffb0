using EdgeMlOps.Aggregator.Fleet;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Bench;

/// <summary>
/// What a fleet whose devices come and go costs the aggregator's memory: <c>N</c> devices per week join (a birth
/// status with tags), and leave (a Last Will), for four weeks; the directory's managed memory at the end of each week,
/// with every device remembered (<c>Devices:ForgetAfterDays=0</c>) and with the default week.
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- device-churn [N]</c>
/// </summary>
public static class DeviceChurnCost
{
    public static void Run(int perWeek, TextWriter output)
    {
        output.WriteLine($"{perWeek:N0} devices join and leave each week; the directory after each week (devices, managed MB)");
        output.WriteLine("week   remember every device        forget after 7 days");
        var remembering = new Fleet(TimeSpan.Zero);
        var forgetting = new Fleet(TimeSpan.FromDays(DeviceOptions.DefaultForgetAfterDays));
        for (var week = 1; week <= 4; week++)
        {
            var (kept, keptMb) = remembering.Week(week, perWeek);
            var (left, leftMb) = forgetting.Week(week, perWeek);
            output.WriteLine($"{week,4}   {kept,9:N0} {keptMb,8:F1} MB        {left,9:N0} {leftMb,8:F1} MB");
        }
    }

    /// <summary>One directory on its own clock, measured alone (the other is kept alive but not counted).</summary>
    private sealed class Fleet(TimeSpan forgetAfter)
    {
        private readonly Clock _time = new();
        private DeviceDirectory? _directory;

        public (int Devices, double Mb) Week(int week, int perWeek)
        {
            var before = Managed();
            _directory ??= new DeviceDirectory(_time);
            for (var day = 0; day < 7; day++)
            {
                for (var i = 0; i < perWeek / 7; i++)
                {
                    var id = $"phone-{week}-{day}-{i:D6}";
                    _directory.Apply(id, Birth(id), _time.GetUtcNow());
                    _directory.Apply(id, new DeviceStatus { Header = ProtocolInfo.NewHeader("bench", id, 2, 0), State = DeviceState.Lost }, _time.GetUtcNow());
                }

                _time.Now += TimeSpan.FromDays(1);
                if (forgetAfter > TimeSpan.Zero) _directory.ForgetSilent(forgetAfter);
            }

            var after = Managed();
            Measured += after - before;
            return (_directory.Count, Measured / 1e6);
        }

        private double Measured { get; set; }

        private static DeviceStatus Birth(string id) => new()
        {
            Header = ProtocolInfo.NewHeader("bench", id, 1, 0),
            State = DeviceState.Online,
            ModelName = "digits",
            ModelVersion = 12,
            SampleCount = 40,
            StatusIntervalSeconds = 60,
            Tags = { ["hardware"] = "phone-arm64", ["region"] = "eu-west", ["cohort"] = "beta" },
        };

        private static long Managed()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            return GC.GetTotalMemory(forceFullCollection: true);
        }
    }

    /// <summary>A clock the bench moves a day at a time.</summary>
    private sealed class Clock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
