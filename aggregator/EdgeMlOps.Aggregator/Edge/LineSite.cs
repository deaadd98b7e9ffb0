using EdgeMlOps.Aggregator.Lines;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Aggregator.Edge;

/// <summary>
/// A model line a gateway is configured with (<c>Aggregator:Lines:NAME</c>, the same settings as the fleet's aggregator)
/// whose rule adds up across partials (<see cref="EdgeGateway.Problem"/>): its site's rounds are folded as the first
/// model's are — the line's tasks verified against the line's own trust bundle (certified by the fleet's root for
/// <c>{fleet}/{line}</c>), its devices' updates folded into one partial per round and batch, sent on the line's own
/// partial topic by a sender of its own. A line the gateway does not know this way is relayed one by one.
/// </summary>
internal sealed class LineSite
{
    public LineSite(ModelLineOptions line, string gatewayId, byte[] rootPublicKey, IFleetChannel upstream, TimeProvider time, ILogger logger)
    {
        Topics = new Topics(line.Options.Fleet, line.Name);
        Options = line.Options;
        Rounds = new SiteRounds(line.Options, gatewayId);
        Trust = new GatewayTrust(Topics.ProtocolFleet, rootPublicKey);
        Sender = new UpstreamSender(upstream, Rounds, line.Options, gatewayId, time, logger);
    }

    /// <summary>The line's topics.</summary>
    public Topics Topics { get; }

    /// <summary>The line's settings (its model and rule, its rounds' deadlines).</summary>
    public AggregatorOptions Options { get; }

    /// <summary>The line's rounds at this site.</summary>
    public SiteRounds Rounds { get; }

    /// <summary>The line's trust: its bundle (relayed down as it is), then each of its tasks.</summary>
    public GatewayTrust Trust { get; }

    /// <summary>Sends the line's partials upstream.</summary>
    public UpstreamSender Sender { get; }
}
