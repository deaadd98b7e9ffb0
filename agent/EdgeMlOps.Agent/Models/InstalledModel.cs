using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Agent.Models;

/// <summary>
/// A loaded version plus a count of its users. The slot holding it counts as one user; a prediction or training
/// run enters and exits, so a version replaced mid-request is disposed only after the request finishes.
/// </summary>
internal sealed class InstalledModel(ModelAnnouncement announcement, SharedCache<InferenceModel>.Lease inference, SharedCache<TrainStepModel>.Lease? trainStep)
{
    private int _users = 1;

    public ModelAnnouncement Announcement { get; } = announcement;

    public SharedCache<InferenceModel>.Lease Inference { get; } = inference;

    /// <summary>The train step, or null for a model the fleet only serves.</summary>
    public SharedCache<TrainStepModel>.Lease? TrainStep { get; } = trainStep;

    /// <summary>Registers a user; false once the version has been fully released.</summary>
    public bool TryEnter()
    {
        while (true)
        {
            var users = Volatile.Read(ref _users);
            if (users == 0) return false;
            if (Interlocked.CompareExchange(ref _users, users + 1, users) == users) return true;
        }
    }

    /// <summary>Drops a user (or the slot's own reference); the last one releases the sessions.</summary>
    public void Exit()
    {
        if (Interlocked.Decrement(ref _users) == 0)
        {
            Inference.Dispose();
            TrainStep?.Dispose();
        }
    }
}
