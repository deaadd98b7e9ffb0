namespace EdgeMlOps.Agent.Training;

/// <summary>The last <c>capacity</c> round ids a device worked on: QoS 1 may deliver a task twice, and a device that runs for years must not remember every round.</summary>
internal sealed class RecentRounds(int capacity = 256)
{
    private readonly HashSet<string> _ids = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    /// <summary>Remembers <paramref name="roundId"/>; false when it was seen already.</summary>
    public bool Add(string roundId)
    {
        lock (_ids)
        {
            if (!_ids.Add(roundId)) return false;
            _order.Enqueue(roundId);
            if (_order.Count > capacity) _ids.Remove(_order.Dequeue());
            return true;
        }
    }
}
