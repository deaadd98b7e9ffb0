using EdgeMlOps.Runtime.Channels;

namespace EdgeMlOps.Runtime.Tests.Channels;

public sealed class InMemoryQueuedChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new InMemoryFleetHub();
        return Task.CompletedTask;
    }
}

public sealed class InMemoryInlineChannelContractTests : FleetChannelContract
{
    public override Task InitializeAsync()
    {
        Broker = new InMemoryFleetHub(delivery: InMemoryDelivery.Inline);
        return Task.CompletedTask;
    }
}
