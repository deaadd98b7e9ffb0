using EdgeMlOps.Shared.Models;
using EdgeMlOps.Shared.Protocol;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>
/// The largest message a device may publish, per topic class, enforced by the embedded broker before a
/// message is forwarded or queued: a status or an evaluation report is small whatever the model; an
/// update is sized from the fleet's model (fp32 delta of every parameter, the training-sample sketches a
/// reference device attaches, and room for headers); a profile at twice <c>Monitoring:MaxProfileBytes</c>, so that
/// a device just over the aggregator's own limit is counted there (<c>Oversized</c>, per device) and stays
/// connected, while a payload far beyond it is cut at the broker.
/// Nothing exceeds the protocol's <see cref="ProtocolInfo.MaxPayloadBytes"/>.
/// </summary>
public sealed record DevicePublishLimits(int Status, int Update, int Evaluation, int Profile)
{
    public const int StatusBytes = 64 * 1024;
    public const int EvaluationBytes = 256 * 1024;

    /// <summary>Headers, round ids, counters and metrics around the tensors of an update.</summary>
    public const int UpdateOverheadBytes = 64 * 1024;

    /// <summary>Only the protocol limit, for every class (no model known).</summary>
    public static readonly DevicePublishLimits Protocol = new(ProtocolInfo.MaxPayloadBytes, ProtocolInfo.MaxPayloadBytes, ProtocolInfo.MaxPayloadBytes, ProtocolInfo.MaxPayloadBytes);

    public static DevicePublishLimits For(ModelSpec model, int maxProfileBytes)
    {
        var delta = (long)ParameterLayout.For(model).TotalLength * sizeof(float);
        var update = (int)Math.Min(ProtocolInfo.MaxPayloadBytes, delta + maxProfileBytes + UpdateOverheadBytes);
        return new DevicePublishLimits(StatusBytes, update, EvaluationBytes, (int)Math.Min(2L * maxProfileBytes, ProtocolInfo.MaxPayloadBytes));
    }

    /// <summary>The largest message of any kind: what a device's packets are held to as they are read.</summary>
    public int Largest => Math.Max(Math.Max(Status, Update), Math.Max(Evaluation, Profile));

    /// <summary>The limit for a device topic's kind (<c>status</c>, <c>update</c>, <c>eval</c>, <c>profile</c>).</summary>
    public int For(string kind) => kind switch
    {
        "status" => Status,
        "update" => Update,
        "eval" => Evaluation,
        "profile" => Profile,
        _ => ProtocolInfo.MaxPayloadBytes,
    };
}
