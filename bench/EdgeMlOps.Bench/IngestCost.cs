using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Replicas;
using EdgeMlOps.Aggregator.Rounds;
using EdgeMlOps.Aggregator.Storage;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Tensors;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Bench;

/// <summary>
/// How many updates one aggregator process takes in per second — the figure a replica is sized by — on each store
/// engine, both in one run (SQLite, PostgreSQL, PostgreSQL, SQLite): 500 devices on the in-memory channel (no broker,
/// no training: what is timed is the aggregator's side) each send one update of the MNIST MLP (784-128-10, 407 KB)
/// at once; timed from the first send until the round is committed as a new version (parse, identity and
/// duplicate checks with the message id stored, validation, the streaming sum, the commit).
/// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- ingest-cost [NPGSQL-CONNECTION-STRING]</c>.
/// </summary>
public static class IngestCost
{
    private const int Devices = 500;
    private const string Fleet = "bench";
    private static readonly ModelSpec Spec = ModelSpec.Mlp(784, [128], 10);

    public static async Task RunAsync(string? connectionString, TextWriter output)
    {
        var server = ScratchStore.Server(connectionString);
        output.WriteLine($"engine      {Devices} updates of {ParameterLayout.For(Spec).TotalLength * 4 / 1000} KB: seconds to a committed version  updates/s");
        foreach (var engine in ScratchStore.AlternatingEngines)
        {
            using var scratch = new ScratchStore(engine, server);
            var (seconds, _) = await OneRoundAsync(scratch.Directory, scratch.Options, aggregators: 1);
            output.WriteLine($"{scratch.Name,-10}  {seconds,55:F2}  {Devices / seconds,9:F0}");
        }
    }

    /// <summary>
    /// The same round taken by 1, 2 and 3 aggregators (the coordinator and replicas sharing it through the in-memory
    /// hub's shared subscription and PostgreSQL), in the order 1 2 3 3 2 1: seconds to the committed version and the
    /// updates each aggregator took. All run in this one process, so the figure is the cost of the share path
    /// (claims, share writes, the merge), not added CPU.
    /// <c>dotnet run --project bench/EdgeMlOps.Bench -c Release -- ingest-cost replicas [NPGSQL-CONNECTION-STRING]</c>.
    /// </summary>
    public static async Task RunReplicasAsync(string? connectionString, TextWriter output)
    {
        var server = ScratchStore.Server(connectionString);
        output.WriteLine($"aggregators  {Devices} updates of {ParameterLayout.For(Spec).TotalLength * 4 / 1000} KB: seconds to a committed version  updates/s  taken by each");
        foreach (var aggregators in new[] { 1, 2, 3, 3, 2, 1 })
        {
            using var scratch = new ScratchStore(StoreEngine.PostgreSql, server);
            var (seconds, taken) = await OneRoundAsync(scratch.Directory, scratch.Options, aggregators);
            output.WriteLine($"{aggregators,11}  {seconds,55:F2}  {Devices / seconds,9:F0}  {string.Join(" / ", taken)}");
        }
    }

    private static async Task<(double Seconds, long[] Taken)> OneRoundAsync(string dir, StoreOptions store, int aggregators)
    {
        var hub = new InMemoryFleetHub();
        var options = new AggregatorOptions
        {
            Fleet = Fleet,
            ModelName = "digits",
            Model = Spec,
            HttpUrl = "http://127.0.0.1:0",
            DataDirectory = dir,
            Store = store,
            Rounds = new RoundOptions { ClientsPerRound = Devices, MinDevices = Devices, OverSelection = 1.0, MinQuorum = 1.0, ReportDeadline = TimeSpan.FromMinutes(5) },
            Replicas = aggregators > 1 ? new ReplicaOptions { Name = "r0", Members = Enumerable.Range(0, aggregators).Select(i => $"r{i}").ToArray() } : new(),
        };
        await using var node = new AggregatorNode(options, channels: hub);
        await node.StartAsync(CancellationToken.None);
        var replicas = new List<ReplicaWorker>();
        foreach (var name in options.Replicas.Members.Skip(1))
        {
            replicas.Add(new ReplicaWorker(options with { Replicas = options.Replicas with { Name = name } }, hub, TimeProvider.System, NullLoggerFactory.Instance));
            await replicas[^1].StartAsync(CancellationToken.None);
        }

        var topics = new Topics(Fleet);
        var tasks = new ConcurrentDictionary<string, RoundTask>();
        var devices = new List<IFleetChannel>();
        for (var i = 0; i < Devices; i++)
        {
            var id = $"dev-{i}";
            var channel = hub.Create(new FleetChannelOptions(id) { CleanStart = true }, NullLoggerFactory.Instance);
            channel.MessageReceived = (topic, payload) =>
            {
                if (topic == topics.Task(id)) tasks[id] = RoundTask.Parser.ParseFrom(Signed.Parser.ParseFrom(payload).Body);
                return Task.CompletedTask;
            };
            await channel.SubscribeAsync([topics.Task(id)], CancellationToken.None);
            await channel.ConnectAsync(CancellationToken.None);
            await channel.PublishAsync(topics.Status(id), new DeviceStatus { Header = ProtocolInfo.NewHeader(Fleet, id, 1, Now()), State = DeviceState.Online, SampleCount = 5 }.ToByteArray(), retain: false, CancellationToken.None);
            devices.Add(channel);
        }

        await Until(() => node.Devices.Eligible().Count == Devices);
        var round = node.RunRoundAsync(CancellationToken.None);
        await Until(() => tasks.Count == Devices);
        var layout = ParameterLayout.For(Spec);
        var delta = Enumerable.Range(0, layout.TotalLength).Select(i => (i % 7 - 3) * 1e-4f).ToArray();
        var updates = devices.Select(d =>
        {
            var task = tasks[d.ClientId];
            var update = new ModelUpdate { Header = ProtocolInfo.NewHeader(Fleet, d.ClientId, 2, Now()), RoundId = task.RoundId, ModelName = task.ModelName, BaseVersion = task.BaseVersion, SampleCount = 5 };
            update.Delta.AddRange(TensorCodec.Encode(layout, delta));
            return (Channel: d, Topic: $"{topics.Prefix}/devices/{d.ClientId}/update", Bytes: update.ToByteArray());
        }).ToArray();

        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(updates, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (u, ct) => await u.Channel.PublishAsync(u.Topic, u.Bytes, retain: false, ct));
        var report = await round;
        var seconds = clock.Elapsed.TotalSeconds;
        if (report.Status != RoundStatus.Completed || report.Contributors != Devices) throw new InvalidOperationException($"round {report.Status} with {report.Contributors} of {Devices}");
        foreach (var device in devices) await device.DisposeAsync();
        var byReplicas = replicas.Select(r => r.Accepted).ToArray();
        foreach (var replica in replicas) await replica.DisposeAsync();
        return (seconds, [Devices - byReplicas.Sum(), .. byReplicas]);
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private static async Task Until(Func<bool> condition)
    {
        for (var i = 0; i < 6000 && !condition(); i++) await Task.Delay(10);
        if (!condition()) throw new TimeoutException("the bench fleet did not get ready");
    }
}
