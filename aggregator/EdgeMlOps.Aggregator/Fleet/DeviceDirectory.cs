using System.Collections.Concurrent;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Fleet;

/// <summary>What the aggregator knows about one device, from its latest status message.</summary>
public sealed record DeviceInfo(
    string DeviceId,
    DeviceState State,
    string ModelName,
    ulong ModelVersion,
    ulong SampleCount,
    IReadOnlyDictionary<string, string> Tags,
    DateTimeOffset LastSeen,
    ulong LastSequence);

/// <summary>Which devices are online, on which version, with how much data. Fed by status messages (birth, refresh, death, Last Will).</summary>
public sealed class DeviceDirectory
{
    private readonly ConcurrentDictionary<string, DeviceInfo> _devices = new(StringComparer.Ordinal);

    public int Count => _devices.Count;

    public int OnlineCount => _devices.Values.Count(d => d.State == DeviceState.Online);

    public IReadOnlyCollection<DeviceInfo> All => _devices.Values.ToArray();

    public bool TryGet(string deviceId, out DeviceInfo info) => _devices.TryGetValue(deviceId, out info!);

    /// <summary>Applies a status message unless an equal-or-newer one from the same boot was already seen.</summary>
    public void Apply(string deviceId, DeviceStatus status, DateTimeOffset receivedAt)
    {
        var info = new DeviceInfo(
            deviceId,
            status.State,
            status.ModelName,
            status.ModelVersion,
            status.SampleCount,
            new Dictionary<string, string>(status.Tags),
            receivedAt,
            status.Header.Sequence);
        _devices.AddOrUpdate(deviceId, info, (_, old) =>
            // A Last Will carries the sequence of the connect that registered it; it always wins.
            status.State == DeviceState.Lost || status.Header.Sequence > old.LastSequence || status.Header.Sequence == 1 ? info : old);
    }

    /// <summary>Online devices that hold labelled samples, ordered by id (so seeded selection is reproducible).</summary>
    public IReadOnlyList<DeviceInfo> Eligible() =>
        _devices.Values.Where(d => d.State == DeviceState.Online && d.SampleCount > 0)
            .OrderBy(d => d.DeviceId, StringComparer.Ordinal).ToArray();
}
