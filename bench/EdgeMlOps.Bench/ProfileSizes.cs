using System.Globalization;
using EdgeMlOps.Shared.Monitoring;
using Google.Protobuf;

namespace EdgeMlOps.Bench;

/// <summary>
/// Prints the bytes of a window profile (the ProfileReport a device publishes) by the number of predictions in the
/// window and the device's sketch policy: 784 pixel-like inputs by default; <c>FEATURES audio</c> — raw audio
/// samples (every value a different real number); or <c>mel</c> — the 1,280 log-mel features PyTorch's front end makes
/// from 8,192-sample waves, which is what a device behind that front end sketches. Run from the repository root:
/// <c>dotnet run -c Release --project bench/EdgeMlOps.Bench -- profile-sizes [FEATURES [audio] | mel]</c>.
/// </summary>
public static class ProfileSizes
{
    public static void Run(TextWriter output, int features = 784, bool audio = false, bool mel = false)
    {
        var random = new Random(1);
        // Pixel-like inputs: 80% exact zeros, the rest uniform in [0, 1); audio: sines of random pitch and phase.
        var samples = mel ? 8192 : features;
        var inputs = Enumerable.Range(0, audio || mel ? 256 : 2048).Select(_ =>
        {
            var (f, phase) = (200 + (random.NextDouble() * 3000), random.NextDouble() * Math.PI);
            return Enumerable.Range(0, samples).Select(n => audio || mel ? (float)(0.5 * Math.Sin((2 * Math.PI * f * n / 8000.0) + phase)) : random.NextDouble() < 0.8 ? 0f : (float)random.NextDouble()).ToArray();
        }).ToArray();
        if (mel)
        {
            var front = File.ReadAllBytes(Path.Combine("tests", "EdgeMlOps.Runtime.Tests", "Training", "Fixtures", "pytorch_mel_frontend.onnx"));
            var made = PreprocessCost.FeaturesOf(front, [.. inputs.SelectMany(w => w)], inputs.Length);
            features = made.Length / inputs.Length;
            inputs = [.. Enumerable.Range(0, inputs.Length).Select(i => made.AsSpan(i * features, features).ToArray())];
        }

        var policies = new (string Name, SketchPolicy Policy)[]
        {
            ("none (raw KLL)", SketchPolicy.None),
            ("default (rows >= 20, level >= 1)", new SketchPolicy()),
            ("level >= 1, <= 64 items", new SketchPolicy(20, 1, 64)),
            ("level >= 1, <= 16 items", new SketchPolicy(20, 1, 16)),
        };
        output.WriteLine("| predictions in window | " + string.Join(" | ", policies.Select(p => p.Name)) + " |");
        output.WriteLine("|---|" + string.Concat(policies.Select(_ => "---|")));
        foreach (var rows in features > 1_000 && !mel ? [50, 200, 1_000] : new[] { 50, 200, 1_000, 10_000, 100_000 })
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
