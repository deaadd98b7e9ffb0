using EdgeMlOps.Shared.Monitoring;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Aggregator.Tests.Monitoring;

/// <summary>A device's window profile of the fixture's classifier: 240 predictions, the given share of them class 1.</summary>
internal static class ClassMixWindow
{
    public static ProfileReport Report(string fleet, string device, ulong sequence, DateTimeOffset end, double classOneShare)
    {
        var window = new WindowProfile(AggregatorFixture.Spec.InputDim, AggregatorFixture.Spec.Classes);
        for (var i = 0; i < 240; i++) window.AddPrediction(new float[AggregatorFixture.Spec.InputDim], i < 240 * classOneShare ? 1 : 0, 0.9f, TimeSpan.FromMilliseconds(1), sketchFeatures: false);
        var report = window.ToProto();
        report.Header = ProtocolInfo.NewHeader(fleet, device, sequence, end.ToUnixTimeMilliseconds());
        (report.ModelName, report.ModelVersion, report.WindowEndUnixMs) = ("tiny", 1, end.ToUnixTimeMilliseconds());
        return report;
    }
}
