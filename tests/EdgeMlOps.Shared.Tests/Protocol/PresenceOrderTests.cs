using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Tests.Protocol;

public class PresenceOrderTests
{
    private static Header At(ulong boot, ulong sequence) => ProtocolInfo.NewHeader("f", "d", sequence, 0, boot);

    [Fact]
    public void NewBoot_SupersedesTheOldBootsGoodbye_ThoughItsSequenceIsSmaller()
    {
        // The previous run said OFFLINE at sequence 40; the restart's first status is sequence 2.
        Assert.True(PresenceOrder.Supersedes(At(boot: 101, 2), DeviceState.Online, lastBoot: 100, lastSequence: 40));
    }

    [Fact]
    public void OldBoot_NeverSupersedesANewerOne_NotEvenItsLastWill()
    {
        Assert.False(PresenceOrder.Supersedes(At(boot: 100, 1), DeviceState.Lost, lastBoot: 101, lastSequence: 2));
        Assert.False(PresenceOrder.Supersedes(At(boot: 100, 99), DeviceState.Online, lastBoot: 101, lastSequence: 2));
    }

    [Fact]
    public void WithinABoot_SequenceOrders_AndTheLastWillWins()
    {
        Assert.True(PresenceOrder.Supersedes(At(7, 5), DeviceState.Online, 7, 4));
        Assert.False(PresenceOrder.Supersedes(At(7, 4), DeviceState.Online, 7, 4));
        Assert.False(PresenceOrder.Supersedes(At(7, 3), DeviceState.Offline, 7, 4));
        Assert.True(PresenceOrder.Supersedes(At(7, 1), DeviceState.Lost, 7, 9));
    }

    [Fact]
    public void SenderWithoutBootEpoch_RestartsAtSequenceOne()
    {
        Assert.True(PresenceOrder.Supersedes(At(0, 1), DeviceState.Online, 0, 30));
        Assert.False(PresenceOrder.Supersedes(At(0, 2), DeviceState.Online, 0, 30));
    }

    [Fact]
    public void MessageIds_DifferAcrossBoots_AtTheSameClockAndSequence()
    {
        Assert.NotEqual(At(1, 1).MessageId, At(2, 1).MessageId);
    }
}
