using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Channel;

namespace EdgeMlOps.Aggregator.Broker;

/// <summary>A packet whose declared size is over the client's limit: the connection ends before its body is read.</summary>
public sealed class PacketTooLargeException(long size, long limit)
    : IOException($"an MQTT packet of {size} bytes was declared (limit {limit}); the connection is closed before reading it");

/// <summary>
/// A client's byte stream as MQTTnet reads it, with MQTT's framing followed underneath: a packet declared larger than
/// the client's limit ends the connection while MQTTnet has read only its first bytes, so no buffer of that size is
/// ever allocated (MQTTnet's server has no packet limit of its own).
/// </summary>
internal sealed class PacketLimitChannel(IMqttChannel inner, MqttFrameScanner scanner, Action<long> refused) : IMqttChannel
{
    public X509Certificate2 ClientCertificate => inner.ClientCertificate;

    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;

    public EndPoint LocalEndPoint => inner.LocalEndPoint;

    public bool IsSecureConnection => inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);

    public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);

    public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        var read = await inner.ReadAsync(buffer, offset, count, cancellationToken).ConfigureAwait(false);
        if (scanner.Scan(buffer.AsSpan(offset, read)) is { } size)
        {
            refused(size);
            throw new PacketTooLargeException(size, scanner.MaxPacketBytes);
        }

        return read;
    }

    public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken) => inner.WriteAsync(buffer, isEndOfPacket, cancellationToken);

    public void Dispose() => inner.Dispose();
}
