using EdgeMlOps.Aggregator;
using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// The edge tier of a simulated fleet (<c>--edge-sites N</c>, docs/SCALING.md "Edge tier"): N sites, each with a broker of
/// its own (an in-memory hub) and a real <see cref="EdgeGateway"/> between it and the fleet's; device i belongs to site
/// i mod N. The fleet's aggregator is told which devices each gateway serves (<see cref="Options"/>). With agents in
/// worker processes the sites are real gateway hosts instead (<see cref="StartHostsAsync"/>). With regions
/// (<c>--edge-regions R</c>) the sites' gateways report to R regional gateways, each with a broker of its own, and only
/// the regions to the fleet: site k below region k mod R.
/// </summary>
public sealed class SimulatedEdge : IAsyncDisposable
{
    private readonly InMemoryFleetHub[] _sites;
    private readonly List<EdgeGateway> _gateways = [];
    private readonly List<EdgeGateway> _below = [];
    private readonly List<EdgeGatewayHost> _hosts = [];
    private readonly List<EdgeGatewayHost> _regionHosts = [];
    private readonly List<ISeverableLink> _links = [];
    private readonly List<SeverableTcpProxy> _proxies = [];
    private readonly Dictionary<string, int> _siteOf = new(StringComparer.Ordinal);

    private SimulatedEdge(int sites) => _sites = Enumerable.Range(0, sites).Select(_ => new InMemoryFleetHub()).ToArray();

    /// <summary>With real gateway hosts (<see cref="StartHostsAsync"/>): each site's TLS broker, in site order.</summary>
    public IReadOnlyList<Runtime.Mqtt.MqttEndpoint> SiteBrokers => [.. _hosts.Select(h => h.SiteEndpoint)];

    /// <summary>The gateways that report to the fleet: the regions' when there are regions, else the sites'.</summary>
    public IReadOnlyList<EdgeGateway> Gateways => _gateways;

    /// <summary>With regions, the sites' gateways below them.</summary>
    public IReadOnlyList<EdgeGateway> SiteGateways => _below;

    /// <summary>
    /// Each gateway's link to the fleet's broker, which a fault can cut: the channel itself in this process
    /// (<see cref="SeverableLink"/>), the TCP path of a real gateway host (<see cref="SeverableTcpProxy"/>).
    /// </summary>
    public IReadOnlyList<ISeverableLink> Links => _links;

    /// <summary>Every byte the gateways sent to the fleet's broker (partials and relayed statuses, evaluations, profiles).</summary>
    public long UpstreamBytes => _gateways.Sum(g => g.UpstreamBytes);

    public long Partials => _gateways.Sum(g => g.PartialsSent);

    public static string GatewayId(int site) => $"site-{site}";

    public static string RegionId(int region) => $"region-{region}";

    /// <summary>The region of site <paramref name="site"/>.</summary>
    public static int RegionOf(int site, int regions) => site % regions;

    /// <summary>The site of the device at fleet index <paramref name="index"/>.</summary>
    public static int SiteOf(int index, int sites) => index % sites;

    /// <summary>
    /// The aggregator's view: gateway site-k serves the devices at indices k, k+N, k+2N, …; with <paramref name="regions"/>,
    /// gateway region-r serves the devices of every site below it, and the fleet knows only the regions.
    /// </summary>
    public static EdgeOptions Options(int sites, int devices, int regions = 0)
    {
        var bySite = Enumerable.Range(0, sites).ToDictionary(
            GatewayId,
            s => (IReadOnlyList<string>)Enumerable.Range(0, devices).Where(i => SiteOf(i, sites) == s).Select(SimulatedDevices.DeviceId).ToArray(),
            StringComparer.Ordinal);
        if (regions == 0) return new EdgeOptions { Gateways = bySite };
        return new EdgeOptions
        {
            Gateways = Enumerable.Range(0, regions).ToDictionary(
                RegionId,
                r => (IReadOnlyList<string>)SitesOf(r, sites, regions).SelectMany(s => bySite[GatewayId(s)]).ToArray(),
                StringComparer.Ordinal),
        };
    }

    private static IEnumerable<int> SitesOf(int region, int sites, int regions) => Enumerable.Range(0, sites).Where(s => RegionOf(s, regions) == region);

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

    /// <summary>
    /// Starts a gateway per site between the fleet's broker (<paramref name="upstream"/> for each gateway id) and the site's,
    /// each with a store of its own under <paramref name="work"/> — or, with <paramref name="regions"/>, a gateway per region
    /// between the fleet's broker and the region's, and each site's gateway between the region's broker and the site's.
    /// </summary>
    public static async Task<SimulatedEdge> StartAsync(AggregatorOptions options, Func<string, IFleetChannelFactory> upstream, byte[] rootPublicKey, int sites, string work, ILoggerFactory loggers, CancellationToken cancellationToken, int regions = 0)
    {
        var edge = new SimulatedEdge(sites);
        var bySite = Options(sites, options.Edge.Gateways.Values.Sum(d => d.Count)).Gateways; // every device is on one gateway's list
        try
        {
            var regionBrokers = new InMemoryFleetHub[regions];
            for (var r = 0; r < regions; r++)
            {
                var id = RegionId(r);
                var below = SitesOf(r, sites, regions).ToDictionary(GatewayId, s => bySite[GatewayId(s)], StringComparer.Ordinal);
                below[id] = options.Edge.Gateways[id];
                regionBrokers[r] = new InMemoryFleetHub();
                var link = new SeverableLink(upstream(id));
                edge._links.Add(link);
                edge._gateways.Add(await StartGatewayAsync(options, id, below, link, regionBrokers[r], rootPublicKey, work, loggers, cancellationToken).ConfigureAwait(false));
            }

            for (var s = 0; s < sites; s++)
            {
                var id = GatewayId(s);
                foreach (var device in bySite[id]) edge._siteOf[device] = s;
                var own = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal) { [id] = bySite[id] };
                if (regions > 0)
                {
                    edge._below.Add(await StartGatewayAsync(options, id, own, regionBrokers[RegionOf(s, regions)], edge._sites[s], rootPublicKey, work, loggers, cancellationToken).ConfigureAwait(false));
                    continue;
                }

                var link = new SeverableLink(upstream(id));
                edge._links.Add(link);
                edge._gateways.Add(await StartGatewayAsync(options, id, own, link, edge._sites[s], rootPublicKey, work, loggers, cancellationToken).ConfigureAwait(false));
            }

            return edge;
        }
        catch
        {
            await edge.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Gateway <paramref name="id"/> serving what <paramref name="gateways"/> lists for it (and, for a region, the sites below it), started.</summary>
    private static async Task<EdgeGateway> StartGatewayAsync(
        AggregatorOptions options, string id, IReadOnlyDictionary<string, IReadOnlyList<string>> gateways, IFleetChannelFactory upstream, IFleetChannelFactory site,
        byte[] rootPublicKey, string work, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var gatewayOptions = options with
        {
            DataDirectory = Path.Combine(work, "gateways", id), Store = new Aggregator.Storage.StoreOptions(), Replicas = new Aggregator.Replicas.ReplicaOptions(), Edge = options.Edge with { Gateways = gateways },
        };
        var gateway = new EdgeGateway(gatewayOptions, id, upstream, site, rootPublicKey, TimeProvider.System, loggers);
        try
        {
            await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The edge tier for agents in other processes (<c>--workers</c>): per site a real <see cref="EdgeGatewayHost"/> — the
    /// gateway process's code, with credentials the aggregator issues, its own TLS site broker (fleet device certificates,
    /// the fleet's ACL) and the fleet's broker upstream with its gateway certificate, reached through a TCP relay that
    /// a fault can cut (<see cref="SeverableTcpProxy"/>).
    /// </summary>
    public static async Task<SimulatedEdge> StartHostsAsync(AggregatorNode aggregator, AggregatorOptions options, int sites, string work, ILoggerFactory loggers, CancellationToken cancellationToken, int regions = 0)
    {
        var edge = new SimulatedEdge(0);
        var bySite = Options(sites, options.Edge.Gateways.Values.Sum(d => d.Count)).Gateways;
        try
        {
            // Regions first: each a real host whose TLS broker its sites' hosts join as their upstream, with their own certificates.
            for (var r = 0; r < regions; r++)
            {
                var id = RegionId(r);
                var lines = SitesOf(r, sites, regions).ToDictionary(GatewayId, s => bySite[GatewayId(s)], StringComparer.Ordinal);
                lines[id] = options.Edge.Gateways[id];
                var path = new SeverableTcpProxy(aggregator.BrokerEndpoint);
                edge._proxies.Add(path);
                edge._links.Add(path);
                var host = await StartHostAsync(aggregator, options, id, lines, path.Endpoint, work, loggers, edge._regionHosts, cancellationToken).ConfigureAwait(false);
                edge._gateways.Add(host.Gateway!);
            }

            for (var s = 0; s < sites; s++)
            {
                var id = GatewayId(s);
                var own = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal) { [id] = bySite[id] };
                if (regions > 0)
                {
                    var host = await StartHostAsync(aggregator, options, id, own, edge._regionHosts[RegionOf(s, regions)].SiteEndpoint, work, loggers, edge._hosts, cancellationToken).ConfigureAwait(false);
                    edge._below.Add(host.Gateway!);
                    continue;
                }

                var path = new SeverableTcpProxy(aggregator.BrokerEndpoint);
                edge._proxies.Add(path);
                edge._links.Add(path);
                edge._gateways.Add((await StartHostAsync(aggregator, options, id, options.Edge.Gateways, path.Endpoint, work, loggers, edge._hosts, cancellationToken).ConfigureAwait(false)).Gateway!);
            }

            return edge;
        }
        catch
        {
            await edge.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A real gateway host <paramref name="id"/> with credentials the aggregator issues, serving what <paramref name="gateways"/> lists, upstream at <paramref name="upstream"/>; added to <paramref name="hosts"/> before it starts.</summary>
    private static async Task<EdgeGatewayHost> StartHostAsync(
        AggregatorNode aggregator, AggregatorOptions options, string id, IReadOnlyDictionary<string, IReadOnlyList<string>> gateways, Runtime.Mqtt.MqttEndpoint upstream,
        string work, ILoggerFactory loggers, List<EdgeGatewayHost> hosts, CancellationToken cancellationToken)
    {
        var credentials = Path.Combine(work, "gateways", id, "credentials");
        GatewayCredentials.Write(aggregator.Security, aggregator.Keys.RootPublicKey, id, credentials, [], DateTimeOffset.UtcNow);
        var hostOptions = options with
        {
            DataDirectory = Path.Combine(work, "gateways", id), Store = new Aggregator.Storage.StoreOptions(), ExternalBroker = null, EmbeddedBrokerPort = 0,
            BrokerBindAddress = System.Net.IPAddress.Loopback, Edge = options.Edge with { Gateway = id, Upstream = upstream, Credentials = credentials, Gateways = gateways },
        };
        var host = new EdgeGatewayHost(hostOptions, loggers);
        hosts.Add(host);
        await host.StartAsync(cancellationToken).ConfigureAwait(false);
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_hosts.Count > 0 || _regionHosts.Count > 0)
        {
            foreach (var host in _hosts) await host.DisposeAsync().ConfigureAwait(false); // each disposes its gateway; the sites before their regions
            foreach (var host in _regionHosts) await host.DisposeAsync().ConfigureAwait(false);
            foreach (var path in _proxies) await path.DisposeAsync().ConfigureAwait(false);
            return;
        }

        foreach (var gateway in _below) await gateway.DisposeAsync().ConfigureAwait(false); // the sites first: what they owe goes up to their regions
        foreach (var gateway in _gateways) await gateway.DisposeAsync().ConfigureAwait(false);
    }
}
