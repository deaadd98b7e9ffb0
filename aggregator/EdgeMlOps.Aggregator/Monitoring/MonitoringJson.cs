using EdgeMlOps.Aggregator.Monitoring;
using EdgeMlOps.Shared.Monitoring;

namespace EdgeMlOps.Aggregator;

/// <summary>Serializer metadata for drift reports and alerts (NaN and infinity written as JSON strings).</summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[System.Text.Json.Serialization.JsonSerializable(typeof(DriftReport))]
[System.Text.Json.Serialization.JsonSerializable(typeof(AlertMessage))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<DriftReport>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<PerformanceView>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<KpiView>))]
internal sealed partial class MonitoringJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Serializer metadata for monitoring views (NaN and infinity written as JSON strings).</summary>
internal static class MonitoringJsonAccess
{
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<DriftReport>> Reports => MonitoringJson.Default.IReadOnlyListDriftReport;

    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<PerformanceView>> Performance => MonitoringJson.Default.IReadOnlyListPerformanceView;

    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<IReadOnlyList<KpiView>> Kpis => MonitoringJson.Default.IReadOnlyListKpiView;
}
