using EdgeMlOps.Agent.Models;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Onnx;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Agent.Tests.Models;

/// <summary>The loaded versions alone: real ONNX Runtime sessions, no agent.</summary>
public class ModelSlotsTests
{
    private static readonly ModelSpec Spec = new(4, [3], 2);
    private readonly SharedCache<InferenceModel> _inference = new();
    private readonly SharedCache<TrainStepModel> _trainSteps = new();

    private async Task<(ModelAnnouncement, SharedCache<InferenceModel>.Lease, SharedCache<TrainStepModel>.Lease)> LoadAsync(ulong version)
    {
        var weights = ModelWeights.Initialize(Spec, (int)version);
        var bytes = ClassifierGraphs.BuildInference(weights).ToByteArray();
        var inference = await _inference.AcquireAsync($"v{version}", () => Task.FromResult(InferenceModel.Load(bytes)));
        var train = await _trainSteps.AcquireAsync("train", () => Task.FromResult(new TrainStepModel(ClassifierGraphs.BuildTrainStep(Spec).ToByteArray(), Spec)));
        return (new ModelAnnouncement { ModelName = "m", Version = version }, inference, train);
    }

    [Fact]
    public async Task AVersionReplacedMidRequest_IsReleasedByItsLastUser()
    {
        using var slots = new ModelSlots();
        var switches = 0;
        slots.ServedChanged += _ => switches++;
        var (a1, i1, t1) = await LoadAsync(1);
        Assert.Null(slots.Serve(a1, i1, t1));
        var inUse = slots.EnterServed()!;

        var (a2, i2, t2) = await LoadAsync(2);
        Assert.Equal(1UL, slots.Serve(a2, i2, t2)!.Version);
        Assert.Equal(2UL, slots.ServedVersion);
        Assert.Equal(2, switches);
        Assert.Equal(2, _inference.Count); // v1 is still in use

        Assert.Equal(2, inUse.Inference.Value.Predict(new float[4], 1).Probabilities.Length);
        inUse.Exit();
        Assert.Equal(1, _inference.Count); // released by the request, not by the switch
        Assert.False(inUse.TryEnter());
    }

    [Fact]
    public async Task Waiters_AreWokenByTheSwitchTheyWaitFor_AndTrainingSlotCountsForTasks()
    {
        using var slots = new ModelSlots();
        var served = slots.WaitForServedAsync(2, CancellationToken.None);
        var anyV2 = slots.WaitForAnyAsync(2, CancellationToken.None);
        var (a1, i1, t1) = await LoadAsync(1);
        slots.Serve(a1, i1, t1);
        await Task.Delay(50);
        Assert.False(served.IsCompleted);

        var (a2, i2, t2) = await LoadAsync(2);
        slots.Train(a2, i2, t2); // governed fleet: v2 is trained on, not served
        await anyV2.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(served.IsCompleted);
        var forTask = slots.EnterFor(2)!;
        Assert.Equal(2UL, forTask.Announcement.Version);
        forTask.Exit();
        var fallback = slots.EnterFor(7)!; // no match: the served one
        Assert.Equal(1UL, fallback.Announcement.Version);
        fallback.Exit();
        Assert.Equal((1UL, 2UL), (slots.ServedVersion, slots.TrainingVersion));
    }

    [Fact]
    public async Task AWaiterForTheNewVersion_FindsTheReplacedVersionReleased()
    {
        // A switch swaps, tells its listeners, then releases the replaced version: whoever waits for the new version must not
        // see it before the release (a simulator read two loaded sessions where one was expected).
        using var slots = new ModelSlots();
        var (a1, i1, t1) = await LoadAsync(1);
        slots.Serve(a1, i1, t1);
        Task<int>? loadedAtWake = null;
        slots.ServedChanged += _ => loadedAtWake = slots.WaitForServedAsync(2, CancellationToken.None)
            .ContinueWith(_ => _inference.Count, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var (a2, i2, t2) = await LoadAsync(2);
        slots.Serve(a2, i2, t2);

        Assert.Equal(1, await loadedAtWake!.WaitAsync(TimeSpan.FromSeconds(5))); // v1's session gone when the waiter woke
    }
}
