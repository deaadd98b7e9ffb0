namespace EdgeMlOps.Aggregator.Broker;

/// <summary>
/// Follows MQTT's framing over the bytes a client sends — a fixed-header byte, the remaining length as a variable byte
/// integer (1–4 bytes), then that many bytes — and says when a packet declares more than the limit, before any of its
/// body has been read. Pure: fed whatever each socket read returned, in order.
/// </summary>
public sealed class MqttFrameScanner(long maxPacketBytes)
{
    private enum Part
    {
        Header,
        Length,
        Body,
    }

    private Part _part = Part.Header;
    private long _length;
    private int _lengthBytes;
    private long _bodyLeft;

    /// <summary>The packet limit (fixed header, length and body).</summary>
    public long MaxPacketBytes => maxPacketBytes;

    /// <summary>Reads <paramref name="data"/>; returns the declared size of the first packet over the limit, or null.</summary>
    public long? Scan(ReadOnlySpan<byte> data)
    {
        var i = 0;
        while (i < data.Length)
        {
            switch (_part)
            {
                case Part.Header:
                    (_part, _length, _lengthBytes) = (Part.Length, 0, 0);
                    i++;
                    break;
                case Part.Length:
                    var b = data[i++];
                    _length |= (long)(b & 0x7F) << (7 * _lengthBytes);
                    _lengthBytes++;
                    if ((b & 0x80) != 0)
                    {
                        if (_lengthBytes == 4) return long.MaxValue; // a fifth length byte: malformed, never a valid packet
                        break;
                    }

                    var size = 1 + _lengthBytes + _length;
                    if (size > maxPacketBytes) return size;
                    (_part, _bodyLeft) = _length == 0 ? (Part.Header, 0) : (Part.Body, _length);
                    break;
                default:
                    var take = (int)Math.Min(_bodyLeft, data.Length - i);
                    i += take;
                    _bodyLeft -= take;
                    if (_bodyLeft == 0) _part = Part.Header;
                    break;
            }
        }

        return null;
    }
}
