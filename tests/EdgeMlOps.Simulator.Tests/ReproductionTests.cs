using EdgeMlOps.Aggregator.Tracking;
using EdgeMlOps.Shared.Tracking;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>A simulation's run record, and re-creating a version from it bit for bit (real agents over MQTT, twice).</summary>
[Collection(FleetCollection.Name)]
public sealed class ReproductionTests
{
    private static readonly string[] Arguments = ["--dataset", "synthetic", "--devices", "12", "--rounds", "3", "--fraction", "0.5", "--hidden", "8", "--synthetic-samples", "3000", "--seed", "4"];

    [Fact]
    public async Task ARecordedRun_IsReproducedBitForBit_AndATamperedRecordIsCaughtAtItsRoundAndTensor()
    {
        var result = await new SimulationRunner(SimulationOptions.Parse([.. Arguments, "--out", "-"])).RunAsync(CancellationToken.None);
        var record = result.Run!;

        // What the record holds: arguments, parameters, the data by fingerprint and counts, contributors, a hash per tensor.
        Assert.Equal(Arguments.Concat(["--out", "-"]), record.Arguments);
        Assert.Equal("true", record.Parameters["strategy.exactSum"]);
        Assert.Equal("4", record.Parameters["simulator.seed"]);
        Assert.Equal(12, record.Data.SamplesPerDevice.Count);
        Assert.Equal(record.Data.Samples, record.Data.SamplesPerDevice.Values.Sum());
        Assert.Equal(64, record.Data.Fingerprint.Length);
        Assert.Equal(3, record.Rounds.Count);
        Assert.All(record.Rounds, r => Assert.Equal(r.Contributors, r.Contributions.Count));
        Assert.Equal([0L, 1, 2, 3], record.Versions.Select(v => v.Round));
        Assert.Equal(["layer0.weight", "layer0.bias", "layer1.weight", "layer1.bias"], record.Versions[^1].Tensors.Keys);
        Assert.NotEqual(record.Versions[2].Tensors["layer0.weight"], record.Versions[3].Tensors["layer0.weight"]);

        var store = new RunStore(Path.Combine(Path.GetTempPath(), "edgemlops-runs-" + Guid.NewGuid().ToString("N")));
        store.Save(record);
        var output = new StringWriter();
        var exit = await Reproduction.RunAsync(["reproduce", "3", "--experiments", store.Directory], NullLoggerFactory.Instance, output, CancellationToken.None);
        Assert.True(exit == 0, output.ToString());
        Assert.Contains("v3: bit-identical: 2 versions, every tensor", output.ToString(), StringComparison.Ordinal);

        // A record whose v3 says something else: the re-run matches v2, then differs in round 2 at the tensor changed.
        var versions = record.Versions.ToArray();
        versions[2] = versions[2] with { Tensors = new Dictionary<string, string>(versions[2].Tensors) { ["layer1.weight"] = new string('0', 64) } };
        var tampered = record with { Id = record.Id + "-tampered", Versions = versions };
        store.Save(tampered);
        output = new StringWriter();
        exit = await Reproduction.RunAsync(["reproduce", "3", "--run", tampered.Id, "--experiments", store.Directory], NullLoggerFactory.Instance, output, CancellationToken.None);
        Assert.Equal(Reproduction.Differs, exit);
        Assert.Contains("v3: differs from round 2 (v3), first tensor layer1.weight", output.ToString(), StringComparison.Ordinal);
    }
}
