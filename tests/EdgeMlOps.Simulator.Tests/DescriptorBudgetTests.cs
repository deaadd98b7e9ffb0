namespace EdgeMlOps.Simulator.Tests;

public class DescriptorBudgetTests
{
    [Fact]
    public void ThreeThousandFileBackedMqttDevices_InOneProcess_AreRefusedUpFront_WithTheWayOut()
    {
        // 8 descriptors a device (two sockets, two SQLite databases with WAL and SHM): ~2,450 fit under 20,000.
        var budget = DescriptorBudget.InProcessFleet(3000, inMemoryTransport: false, embeddedBroker: true, inMemoryStores: false);
        var error = Assert.Throws<DescriptorBudgetException>(() => DescriptorBudget.ThrowIfTooSmall(budget, limit: 20_000));
        Assert.Contains("3000 simulated devices need about 24512 open files", error.Message);
        Assert.Contains("--workers", error.Message);
        Assert.Contains("--device-stores memory", error.Message);
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.InProcessFleet(2400, false, true, false), limit: 20_000);
    }

    [Fact]
    public void TenThousandDevices_FitInFourWorkers_WithInMemoryStores_AndTheBrokerBeside()
    {
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.Worker(2500, inMemoryStores: true), limit: 20_000);
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.EmbeddedBroker(10_000), limit: 20_000);
        Assert.Throws<DescriptorBudgetException>(() => DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.Worker(2500, inMemoryStores: false), limit: 15_000));
        DescriptorBudget.ThrowIfTooSmall(DescriptorBudget.InProcessFleet(100_000, inMemoryTransport: true, embeddedBroker: false, inMemoryStores: true), limit: 20_000);
    }

    [Fact]
    public void OpenFileLimit_IsReadFromTheProcess()
    {
        Assert.True(DescriptorBudget.OpenFileLimit() is null or > 0);
        if (OperatingSystem.IsLinux()) Assert.NotNull(DescriptorBudget.OpenFileLimit());
    }
}
