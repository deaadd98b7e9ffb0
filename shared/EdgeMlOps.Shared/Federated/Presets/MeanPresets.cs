namespace EdgeMlOps.Shared.Federated.Presets;

/// <summary>FedAvg (McMahan et al. 2017): sample-weighted mean, plain server step.</summary>
public sealed class FedAvg : StrategyPreset
{
    public override string Name => "fedavg";
}

/// <summary>FedProx (Li et al. 2020): FedAvg plus the proximal term on devices, μ = 0.01 unless set.</summary>
public sealed class FedProx : StrategyPreset
{
    public override string Name => "fedprox";

    public override double DefaultProximalMu => 0.01;
}

/// <summary>FedAvgM (Hsu et al. 2019): FedAvg with server momentum.</summary>
public sealed class FedAvgM : StrategyPreset
{
    public override string Name => "fedavgm";

    public override string ServerOptimizer => "momentum";
}

/// <summary>FedAdam (Reddi et al. 2021): the mean applied by a server Adam.</summary>
public sealed class FedAdam : StrategyPreset
{
    public override string Name => "fedadam";

    public override string ServerOptimizer => "adam";
}

/// <summary>FedYogi (Reddi et al. 2021): the mean applied by a server Yogi.</summary>
public sealed class FedYogi : StrategyPreset
{
    public override string Name => "fedyogi";

    public override string ServerOptimizer => "yogi";
}

/// <summary>FedAdagrad (Reddi et al. 2021): the mean applied by a server Adagrad.</summary>
public sealed class FedAdagrad : StrategyPreset
{
    public override string Name => "fedadagrad";

    public override string ServerOptimizer => "adagrad";
}
