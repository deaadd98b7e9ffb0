using System.Buffers;
using EdgeMlOps.Runtime.Channels;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Simulator;

/// <summary>
/// A link that can be cut (fault injection for the edge tier, <c>--edge-outage</c>): while <see cref="Severed"/>, every
/// publish over a channel of this factory fails as on a dead connection and whatever the broker sends is lost; when it
/// is joined again both directions work as before.
/// </summary>
public sealed class SeverableLink(IFleetChannelFactory inner) : IFleetChannelFactory, ISeverableLink
{
    private int _severed;

    public string Address => inner.Address;

    public bool Severed
    {
        get => Volatile.Read(ref _severed) == 1;
        set => Volatile.Write(ref _severed, value ? 1 : 0);
    }

    public IFleetChannel Create(FleetChannelOptions options, ILoggerFactory loggers) => new Channel(inner.Create(options, loggers), this);

    private sealed class Channel(IFleetChannel channel, SeverableLink link) : DelegatingFleetChannel(channel)
    {
        public override Task<bool> PublishAsync(string topic, byte[] payload, bool retain, CancellationToken cancellationToken) =>
            link.Severed ? throw new InvalidOperationException($"Publish to {topic} failed: the link to {link.Address} is down.") : base.PublishAsync(topic, payload, retain, cancellationToken);

        protected override bool Delivers(string topic, ReadOnlySequence<byte> payload) => !link.Severed;
    }
}
