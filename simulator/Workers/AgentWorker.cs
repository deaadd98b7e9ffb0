using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator.Workers;

/// <summary>
/// One worker process of a spread-out fleet: hosts the agents of its slice (the same data, partition,
/// faults and label flipping the coordinator would give them, from the same seed), connected to the
/// coordinator's broker, until its standard input closes.
/// </summary>
public sealed class AgentWorker(SimulationOptions options, ILoggerFactory loggers)
{
    /// <summary>The site broker of each device of the slice: device i on site i mod N, as the coordinator's gateways serve them.</summary>
    private static Dictionary<string, EdgeMlOps.Runtime.Mqtt.MqttEndpoint> SiteBrokersOf(int first, int count, IReadOnlyList<EdgeMlOps.Runtime.Mqtt.MqttEndpoint> sites) =>
        Enumerable.Range(first, count).ToDictionary(SimulatedDevices.DeviceId, i => sites[SimulatedEdge.SiteOf(i, sites.Count)], StringComparer.Ordinal);

    public async Task RunAsync(TextReader stop, TextWriter output, CancellationToken cancellationToken)
    {
        var (first, count) = options.WorkerSlice ?? throw new InvalidOperationException("not a worker");
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.Worker(count, options.InMemoryDeviceStores));
        var simulated = SimulatedData.Load(options);
        var work = SimulatedData.WorkDirectory(options with { WorkDirectory = null }, "worker");
        try
        {
            var faults = SimulationRunner.Faults(options);
            var siteOf = options.SiteBrokers is { } sites ? SiteBrokersOf(first, count, sites) : null;
            var settings = new DeviceHostSettings(
                SimulatedData.Fleet, new MqttChannelFactory(options.ExternalBroker!), options.TrustedRoot!, work, options.ComputeSlots, options.InMemoryDeviceStores)
            {
                Tags = SimulationRunner.Tags(options),
                Label = SimulationRunner.Labels(faults, simulated.Data.Classes),
                Sample = options.Varying is not null ? SampleCuts.For(simulated.UploadedModel(options)?.Spec, options.Seed) : null, // the same cuts as the coordinator's devices (the model is read only when samples vary)
                Enrollment = SimulatedEnrollment.FromWorkerOptions(options),
                SiteBrokers = siteOf is null ? null : id => siteOf[id],
            };
            await using var devices = await SimulatedDevices.StartAsync(settings, simulated.Pool, simulated.Parts, first, count, faults, loggers, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"ready {count}").ConfigureAwait(false);
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
            await stop.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            SimulationRunner.TryDelete(work);
        }
    }
}
