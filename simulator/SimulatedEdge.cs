using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// The edge tier of a simulated fleet (<c>--edge-sites N</c>, docs/SCALING.md "Edge tier"): N sites, each with a broker of
/// its own (an in-memory hub) and a real <see cref="EdgeGateway"/> between it and the fleet's; device i belongs to site
/// i mod N. The fleet's aggregator is told which devices each gateway serves (<see cref="Options"/>). With agents in
/// worker processes the sites are real gateway hosts instead (<see cref="StartHostsAsync"/>).
/// </summary>
public sealed class SimulatedEdge : IAsyncDisposable
{
    private readonly InMemoryFleetHub[] _sites;
    private readonly List<EdgeGateway> _gateways = [];
    private readonly List<EdgeGatewayHost> _hosts = [];
    private readonly List<ISeverableLink> _links = [];
    private readonly List<SeverableTcpProxy> _proxies = [];
    private readonly Dictionary<string, int> _siteOf = new(StringComparer.Ordinal);

    private SimulatedEdge(int sites) => _sites = Enumerable.Range(0, sites).Select(_ => new InMemoryFleetHub()).ToArray();

    /// <summary>With real gateway hosts (<see cref="StartHostsAsync"/>): each site's TLS broker, in site order.</summary>
    public IReadOnlyList<Runtime.Mqtt.MqttEndpoint> SiteBrokers => [.. _hosts.Select(h => h.SiteEndpoint)];

    public IReadOnlyList<EdgeGateway> Gateways => _gateways;

    /// <summary>
    /// Each gateway's link to the fleet's broker, which a fault can cut: the channel itself in this process
    /// (<see cref="SeverableLink"/>), the TCP path of a real gateway host (<see cref="SeverableTcpProxy"/>).
    /// </summary>
    public IReadOnlyList<ISeverableLink> Links => _links;

    /// <summary>Every byte the gateways sent to the fleet's broker (partials and relayed statuses, evaluations, profiles).</summary>
    public long UpstreamBytes => _gateways.Sum(g => g.UpstreamBytes);

    public long Partials => _gateways.Sum(g => g.PartialsSent);

    public static string GatewayId(int site) => $"site-{site}";

    /// <summary>The site of the device at fleet index <paramref name="index"/>.</summary>
    public static int SiteOf(int index, int sites) => index % sites;

    /// <summary>The aggregator's view: gateway site-k serves the devices at indices k, k+N, k+2N, ….</summary>
    public static EdgeOptions Options(int sites, int devices) => new()
    {
        Gateways = Enumerable.Range(0, sites).ToDictionary(
            GatewayId,
            s => (IReadOnlyList<string>)Enumerable.Range(0, devices).Where(i => SiteOf(i, sites) == s).Select(SimulatedDevices.DeviceId).ToArray(),
            StringComparer.Ordinal),
    };

    /// <summary>The broker device <paramref name="deviceId"/> connects to: its site's.</summary>
    public IFleetChannelFactory ChannelsFor(string deviceId) => _sites[_siteOf[deviceId]];

    /// <summary>
    /// The fleet's broker for gateway <paramref name="gatewayId"/>: the in-memory hub as it is, or the aggregator's TLS
    /// broker with a gateway certificate of its own from the fleet CA (the broker's ACL then holds it to its own site).
    /// </summary>
    public static IFleetChannelFactory Upstream(AggregatorNode aggregator, bool inMemory, string gatewayId)
    {
        if (inMemory) return aggregator.Channels;
        var identity = new Runtime.Security.FleetIdentity(gatewayId, Runtime.Security.FleetRole.Gateway, aggregator.Options.Fleet);
        var certificate = aggregator.Security.Authority.IssueClientWithKey(identity, DateTimeOffset.UtcNow, TimeSpan.FromDays(1));
        return new MqttChannelFactory(aggregator.BrokerEndpoint, new Runtime.Mqtt.MqttTlsSettings(aggregator.Security.Authority.Certificate, _ => certificate));
    }

    /// <summary>Starts a gateway per site between the fleet's broker (<paramref name="upstream"/> for each gateway id) and the site's, each with a store of its own under <paramref name="work"/>.</summary>
    public static async Task<SimulatedEdge> StartAsync(AggregatorOptions options, Func<string, IFleetChannelFactory> upstream, byte[] rootPublicKey, int sites, string work, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var edge = new SimulatedEdge(sites);
        try
        {
            for (var s = 0; s < sites; s++)
            {
                foreach (var device in options.Edge.Gateways[GatewayId(s)]) edge._siteOf[device] = s; // the aggregator's own list
                var gatewayOptions = options with { DataDirectory = Path.Combine(work, "gateways", GatewayId(s)), Store = new Aggregator.Storage.StoreOptions() };
                var link = new SeverableLink(upstream(GatewayId(s)));
                edge._links.Add(link);
                var gateway = new EdgeGateway(gatewayOptions, GatewayId(s), link, edge._sites[s], rootPublicKey, TimeProvider.System, loggers);
                edge._gateways.Add(gateway);
                await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
            }

            return edge;
        }
        catch
        {
            await edge.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The edge tier for agents in other processes (<c>--workers</c>): per site a real <see cref="EdgeGatewayHost"/> — the
    /// gateway process's code, with credentials the aggregator issues, its own TLS site broker (fleet device certificates,
    /// the fleet's ACL) and the fleet's broker upstream with its gateway certificate, reached through a TCP relay that
    /// a fault can cut (<see cref="SeverableTcpProxy"/>).
    /// </summary>
    public static async Task<SimulatedEdge> StartHostsAsync(AggregatorNode aggregator, AggregatorOptions options, int sites, string work, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var edge = new SimulatedEdge(0);
        try
        {
            for (var s = 0; s < sites; s++)
            {
                var id = GatewayId(s);
                var credentials = Path.Combine(work, "gateways", id, "credentials");
                GatewayCredentials.Write(aggregator.Security, aggregator.Keys.RootPublicKey, id, credentials, [], DateTimeOffset.UtcNow);
                var path = new SeverableTcpProxy(aggregator.BrokerEndpoint);
                edge._proxies.Add(path);
                edge._links.Add(path);
                var hostOptions = options with
                {
                    DataDirectory = Path.Combine(work, "gateways", id), Store = new Aggregator.Storage.StoreOptions(), ExternalBroker = null, EmbeddedBrokerPort = 0,
                    BrokerBindAddress = System.Net.IPAddress.Loopback, Edge = options.Edge with { Gateway = id, Upstream = path.Endpoint, Credentials = credentials },
                };
                var host = new EdgeGatewayHost(hostOptions, loggers);
                edge._hosts.Add(host);
                await host.StartAsync(cancellationToken).ConfigureAwait(false);
                edge._gateways.Add(host.Gateway!);
            }

            return edge;
        }
        catch
        {
            await edge.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_hosts.Count > 0)
        {
            foreach (var host in _hosts) await host.DisposeAsync().ConfigureAwait(false); // each disposes its gateway
            foreach (var path in _proxies) await path.DisposeAsync().ConfigureAwait(false);
            return;
        }

        foreach (var gateway in _gateways) await gateway.DisposeAsync().ConfigureAwait(false);
    }
}
