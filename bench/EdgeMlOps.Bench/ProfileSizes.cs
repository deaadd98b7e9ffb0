using System.Globalization;
using EdgeMlOps.Shared.Monitoring;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>
/// Prints the bytes of a window profile (the ProfileReport a device publishes) by the number of predictions in the
/// window and the device's sketch policy: 784 pixel-like inputs by default, or <c>FEATURES audio</c> — raw audio
/// samples (every value a different real number), as a classifier behind a front end is sent. Run:
/// <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- profile-sizes [FEATURES [audio]]</c>.
/// </summary>
public static class ProfileSizes
{
    public static void Run(TextWriter output, int features = 784, bool audio = false)
    {
        var random = new Random(1);
        // Pixel-like inputs: 80% exact zeros, the rest uniform in [0, 1); audio: sines of random pitch and phase.
        var inputs = Enumerable.Range(0, audio ? 256 : 2048).Select(_ =>
        {
            var (f, phase) = (200 + (random.NextDouble() * 3000), random.NextDouble() * Math.PI);
            return Enumerable.Range(0, features).Select(n => audio ? (float)(0.5 * Math.Sin((2 * Math.PI * f * n / 8000.0) + phase)) : random.NextDouble() < 0.8 ? 0f : (float)random.NextDouble()).ToArray();
        }).ToArray();
        var policies = new (string Name, SketchPolicy Policy)[]
        {
            ("none (raw KLL)", SketchPolicy.None),
            ("default (rows >= 20, level >= 1)", new SketchPolicy()),
            ("level >= 1, <= 64 items", new SketchPolicy(20, 1, 64)),
            ("level >= 1, <= 16 items", new SketchPolicy(20, 1, 16)),
        };
        output.WriteLine("| predictions in window | " + string.Join(" | ", policies.Select(p => p.Name)) + " |");
        output.WriteLine("|---|" + string.Concat(policies.Select(_ => "---|")));
        foreach (var rows in features > 1_000 ? [50, 200, 1_000] : new[] { 50, 200, 1_000, 10_000, 100_000 })
        {
            var sizes = policies.Select(p =>
            {
                var window = new WindowProfile(features, 10);
                for (var i = 0; i < rows; i++) window.AddPrediction(inputs[i % inputs.Length], i % 10, 0.9f, TimeSpan.FromMilliseconds(1));
                window.ApplyPolicy(p.Policy);
                return window.ToProto().ToByteArray().Length;
            }).ToArray();
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {rows:N0} | ") + string.Join(" | ", sizes.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s / 1024.0:F0} KB"))) + " |");
        }
    }
}
