using EdgeMlOps.Aggregator.Edge;
using EdgeMlOps.Runtime.Channels;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Aggregator.Tests.Edge;

/// <summary>
/// The fleet's model lines at a gateway: only a catalogue verified with the fleet's trust (and not older than the one in
/// force) changes the lines it follows and is relayed to its site; one that comes before the trust bundle waits for it;
/// of a followed line only the retained statements and the tasks of devices heard from go down.
/// </summary>
public sealed class GatewayLinesTests : IAsyncLifetime // xUnit v2 calls IAsyncLifetime.DisposeAsync, never IAsyncDisposable's
{
    private const long Now = 1_800_000_000_000;
    private static readonly Topics Fleet = new("f");
    private static readonly Topics Kws = Fleet.ForLine("kws");
    private readonly SigningKeyPair _root = SigningKeyPair.Generate();
    private readonly SigningKeyPair _signer = SigningKeyPair.Generate();
    private readonly SigningKeyPair _stranger = SigningKeyPair.Generate();
    private readonly InMemoryFleetHub _upstreamHub = new(delivery: InMemoryDelivery.Inline);
    private readonly InMemoryFleetHub _siteHub = new(delivery: InMemoryDelivery.Inline);
    private readonly IFleetChannel _upstream;
    private readonly IFleetChannel _site;
    private readonly IFleetChannel _device;
    private readonly List<string> _relayed = [];
    private readonly GatewayTrust _trust;
    private readonly GatewayLines _lines;

    public GatewayLinesTests()
    {
        _upstream = _upstreamHub.Create(new FleetChannelOptions("gateway-gw"), NullLoggerFactory.Instance);
        _site = _siteHub.Create(new FleetChannelOptions("aggregator-edge-gw"), NullLoggerFactory.Instance);
        _device = _siteHub.Create(new FleetChannelOptions("observer"), NullLoggerFactory.Instance);
        _device.MessageReceived = (topic, _) =>
        {
            lock (_relayed) _relayed.Add(topic);
            return Task.CompletedTask;
        };
        _trust = new GatewayTrust("f", _root.PublicKey);
        _lines = new GatewayLines(Fleet, _upstream, _site, _trust, new Dictionary<string, LineSite>(), new EdgeMlOps.Aggregator.Rounds.RejectionCounters(), "gw", NullLogger.Instance);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _device.DisposeAsync();
        await _site.DisposeAsync();
        await _upstream.DisposeAsync();
        _root.Dispose();
        _signer.Dispose();
        _stranger.Dispose();
    }

    private async Task ConnectAsync()
    {
        await _upstream.ConnectAsync(CancellationToken.None);
        await _site.ConnectAsync(CancellationToken.None);
        await _device.SubscribeAsync(["edgemlops/v1/f/#"], CancellationToken.None);
        await _device.ConnectAsync(CancellationToken.None);
    }

    private Signed Bundle() => Signatures.Sign(new TrustBundle
    {
        Fleet = "f", Version = 1,
        Keys = { new SigningKey { KeyId = _signer.KeyId, PublicKey = ByteString.CopyFrom(_signer.PublicKey), Roles = { KeyRole.Rollout }, ExpiresUnixMs = Now + 86_400_000 } },
    }, _root);

    private Signed Catalogue(long issued, string[] lines, SigningKeyPair? key = null) =>
        Signatures.Sign(new ModelCatalogue { Fleet = "f", IssuedUnixMs = issued, Lines = { lines.Select(l => new ModelLine { Name = l, MemoryRequestBytes = 64 << 20 }) } }, key ?? _signer);

    private Task<bool> FromFleetAsync(string topic, byte[] payload) => _lines.OnUpstreamAsync(topic, payload, Now, CancellationToken.None);

    private string[] Relayed()
    {
        lock (_relayed) return [.. _relayed];
    }

    [Fact]
    public async Task ACatalogueBeforeTheBundle_WaitsForIt_ThenItsLinesAreFollowed_AndOnlyWhatASiteDeviceReadsGoesDown()
    {
        await ConnectAsync();
        Assert.True(await FromFleetAsync(Fleet.Catalogue, Catalogue(Now, ["kws"]).ToByteArray()));
        Assert.Empty(_lines.Names);
        Assert.Empty(Relayed()); // not verified yet: not relayed

        Assert.True(_trust.AcceptBundle(Bundle(), Now).Ok);
        await _lines.BundleAcceptedAsync(Now, CancellationToken.None);
        Assert.Equal(["kws"], _lines.Names);
        Assert.Equal([Fleet.Catalogue], Relayed());

        Assert.Equal([Fleet.Task("dev-1"), Kws.Task("dev-1")], _lines.Note("dev-1", Fleet.Task("dev-1")));
        Assert.Null(_lines.Note("dev-1", Fleet.Task("dev-1"))); // heard from before

        Assert.True(await FromFleetAsync(Kws.Model, [1]));
        Assert.True(await FromFleetAsync(Kws.Task("dev-1"), [2]));
        Assert.True(await FromFleetAsync(Kws.Task("dev-2"), [3])); // not a device of this site heard from: dropped
        Assert.True(await FromFleetAsync(Fleet.ForLine("cam").Model, [4])); // not a line of the catalogue: dropped
        Assert.True(await FromFleetAsync(Kws.Update("dev-1"), [5])); // nothing a device reads: dropped
        Assert.False(await FromFleetAsync(Fleet.Model, [6])); // the first model's: not the lines' to relay
        Assert.Equal([Fleet.Catalogue, Kws.Model, Kws.Task("dev-1")], Relayed());

        // The line taken out: not followed any more.
        Assert.True(await FromFleetAsync(Fleet.Catalogue, Catalogue(Now + 1, []).ToByteArray()));
        Assert.Empty(_lines.Names);
        Assert.True(await FromFleetAsync(Kws.Model, [7]));
        Assert.Equal([Fleet.Catalogue, Kws.Model, Kws.Task("dev-1"), Fleet.Catalogue], Relayed());
        Assert.Equal([Fleet.Task("dev-2")], _lines.Note("dev-2", Fleet.Task("dev-2")));
    }

    [Fact]
    public async Task AForgedOrOlderCatalogue_IsRefusedAndCounted_AndChangesNothing()
    {
        await ConnectAsync();
        Assert.True(_trust.AcceptBundle(Bundle(), Now).Ok);
        await FromFleetAsync(Fleet.Catalogue, Catalogue(Now, ["kws"]).ToByteArray());
        Assert.Equal(["kws"], _lines.Names);

        var wrongFleet = Signatures.Sign(new ModelCatalogue { Fleet = "other", IssuedUnixMs = Now + 5, Lines = { new ModelLine { Name = "evil" } } }, _signer);
        var tampered = Catalogue(Now + 6, ["kws", "evil"]);
        tampered.Body = ByteString.CopyFrom(Catalogue(Now + 6, ["evil"]).Body.ToByteArray()); // the body swapped under the signature
        foreach (var refused in new[] { wrongFleet, tampered, Catalogue(Now - 1, []) })
        {
            Assert.True(await FromFleetAsync(Fleet.Catalogue, refused.ToByteArray()));
        }

        // A catalogue signed by a key no bundle certifies waits for a bundle that may come; it is never followed.
        Assert.True(await FromFleetAsync(Fleet.Catalogue, Catalogue(Now + 7, ["evil"], _stranger).ToByteArray()));
        await _lines.BundleAcceptedAsync(Now, CancellationToken.None);

        Assert.Equal(["kws"], _lines.Names);
        Assert.Equal(3L, _lines.Refused);
        Assert.Equal([Fleet.Catalogue], Relayed());
    }

    /// <summary>
    /// A line the gateway folds: its tasks are verified against the line's own trust bundle (certified by the fleet's root
    /// for "f/kws") before the gateway's rounds take them and its site gets them; the first model's task on the line's topic
    /// or one signed by a key the line's bundle does not certify is refused, counted and not relayed.
    /// </summary>
    [Fact]
    public async Task AFoldedLinesTasks_AreVerifiedAgainstTheLinesOwnTrust_BeforeItsRoundsTakeThemAndTheSiteGetsThem()
    {
        using var lineSigner = SigningKeyPair.Generate();
        var lineOptions = new AggregatorOptions { Fleet = "f", Line = "kws", ModelName = "kws", Model = EdgeMlOps.Shared.Models.ModelSpec.Mlp(3, [4], 2) };
        var site = new LineSite(new EdgeMlOps.Aggregator.Lines.ModelLineOptions("kws", lineOptions, new Dictionary<string, IReadOnlyList<string>>(), 64UL << 20), "gw", _root.PublicKey, _upstream, TimeProvider.System, NullLogger.Instance);
        var rejections = new EdgeMlOps.Aggregator.Rounds.RejectionCounters();
        var lines = new GatewayLines(Fleet, _upstream, _site, _trust, new Dictionary<string, LineSite> { ["kws"] = site }, rejections, "gw", NullLogger.Instance);
        await ConnectAsync();
        Assert.True(_trust.AcceptBundle(Bundle(), Now).Ok);
        await lines.OnUpstreamAsync(Fleet.Catalogue, Catalogue(Now, ["kws"]).ToByteArray(), Now, CancellationToken.None);
        lines.Note("dev-1", Fleet.Task("dev-1"));

        var lineBundle = Signatures.Sign(new TrustBundle
        {
            Fleet = "f/kws", Version = 1,
            Keys = { new SigningKey { KeyId = lineSigner.KeyId, PublicKey = ByteString.CopyFrom(lineSigner.PublicKey), Roles = { KeyRole.Manifest }, ExpiresUnixMs = Now + 86_400_000 } },
        }, _root);
        await lines.OnUpstreamAsync(Kws.Trust, lineBundle.ToByteArray(), Now, CancellationToken.None);

        Signed Task(string fleet, SigningKeyPair key) => Signatures.Sign(new RoundTask
        {
            Header = ProtocolInfo.NewHeader(fleet, "aggregator", 1, Now), DeviceId = "dev-1", Kind = TaskKind.Train, RoundId = "kws-r1-v1", ModelName = "kws",
            BaseVersion = 1, RoundNumber = 1, DeadlineUnixMs = Now + 60_000,
        }, key);
        await lines.OnUpstreamAsync(Kws.Task("dev-1"), Task("f", _signer).ToByteArray(), Now, CancellationToken.None); // the first model's signer and fleet
        await lines.OnUpstreamAsync(Kws.Task("dev-1"), Task("f/kws", _signer).ToByteArray(), Now, CancellationToken.None); // a key the line's bundle does not certify
        Assert.Equal((0, 2L), (site.Rounds.Count, rejections.Total));
        Assert.Equal([Fleet.Catalogue, Kws.Trust], Relayed());

        await lines.OnUpstreamAsync(Kws.Task("dev-1"), Task("f/kws", lineSigner).ToByteArray(), Now, CancellationToken.None);
        Assert.Equal((1, 2L), (site.Rounds.Count, rejections.Total));
        Assert.Equal([Fleet.Catalogue, Kws.Trust, Kws.Task("dev-1")], Relayed());
    }
}
