using System.Collections;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace EdgeMlOps.Tests;

/// <summary>
/// Mutates a real protobuf message the way a hostile or broken device would: field by field through the message's
/// descriptor (extreme numbers, NaN and infinities, empty, huge and foreign strings, cut or doubled bytes, undefined enum
/// values, emptied, repeated and grown lists, dropped sub-messages), or byte by byte on the encoded form (flipped,
/// inserted, deleted, cut: <see cref="ByteMutator"/>). Every mutation is drawn from one seeded <see cref="Random"/>, so a failure replays.
/// </summary>
internal sealed class ProtobufMutator(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly long[] Integers = [0, 1, -1, 2, 255, 65_536, int.MaxValue, int.MinValue, long.MaxValue, long.MinValue, 1L << 40];
    private static readonly double[] Reals = [double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, 0, 1e38, -1e38, 1e308, double.Epsilon, -1, 0.5];

    /// <summary>An encoded mutation of <paramref name="original"/>: a structured one three times in four, else bytes.</summary>
    public byte[] Mutate<T>(T original, Action<T>? afterwards = null)
        where T : IMessage<T>
    {
        if (_random.Next(4) == 3) return ByteMutator.Mutate(original.ToByteArray(), _random);
        var copy = original.Clone();
        for (var edits = _random.Next(1, 4); edits > 0; edits--) MutateField(copy, depth: 0);
        afterwards?.Invoke(copy);
        return copy.ToByteArray();
    }

    /// <summary>Changes one field of <paramref name="message"/> or of a message inside it.</summary>
    private void MutateField(IMessage message, int depth)
    {
        var fields = message.Descriptor.Fields.InFieldNumberOrder();
        if (fields.Count == 0) return;
        var field = fields[_random.Next(fields.Count)];
        var accessor = field.Accessor;
        if (field.IsMap) return;
        if (field.IsRepeated)
        {
            MutateList(field, (IList)accessor.GetValue(message), depth);
            return;
        }

        if (field.FieldType == FieldType.Message)
        {
            var inner = (IMessage?)accessor.GetValue(message);
            if (inner is null || _random.Next(5) == 0) accessor.Clear(message);
            else if (depth < 4) MutateField(inner, depth + 1);
            return;
        }

        accessor.SetValue(message, Value(field, accessor.GetValue(message)));
    }

    private void MutateList(FieldDescriptor field, IList list, int depth)
    {
        switch (_random.Next(5))
        {
            case 0:
                list.Clear();
                break;
            case 1 when list.Count > 0:
                list.RemoveAt(_random.Next(list.Count));
                break;
            case 2 when list.Count > 0:
                var item = list[_random.Next(list.Count)];
                for (var n = _random.Next(1, 64); n > 0; n--) list.Add(item is IMessage m ? m.Descriptor.Parser.ParseFrom(m.ToByteString()) : item);
                break;
            case 3 when list.Count > 0 && field.FieldType == FieldType.Message:
                if (depth < 4) MutateField((IMessage)list[_random.Next(list.Count)]!, depth + 1);
                break;
            default:
                if (field.FieldType == FieldType.Message) list.Add(field.MessageType.Parser.ParseFrom([]));
                else if (list.Count > 0) list[_random.Next(list.Count)] = Value(field, list[0]);
                else list.Add(Value(field, null));
                break;
        }
    }

    private object Value(FieldDescriptor field, object? current)
    {
        var integer = Integers[_random.Next(Integers.Length)];
        var real = Reals[_random.Next(Reals.Length)];
        return field.FieldType switch
        {
            FieldType.Double => real,
            FieldType.Float => (float)real,
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 => unchecked((int)integer),
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => integer,
            FieldType.UInt32 or FieldType.Fixed32 => unchecked((uint)integer),
            FieldType.UInt64 or FieldType.Fixed64 => unchecked((ulong)integer),
            FieldType.Bool => current is bool b ? !b : true,
            FieldType.Enum => _random.Next(3) == 0 ? 1000 + _random.Next(10) : field.EnumType.Values[_random.Next(field.EnumType.Values.Count)].Number,
            FieldType.String => _random.Next(5) switch
            {
                0 => "",
                1 => new string('x', 20_000),
                2 => "../../" + current + "\u0000\uFFFD/#/+",
                3 => current + "-other",
                _ => "ünïcødé " + _random.Next(),
            },
            FieldType.Bytes => Bytes(current as ByteString ?? ByteString.Empty),
            _ => current ?? 0,
        };
    }

    private ByteString Bytes(ByteString current)
    {
        var bytes = current.ToByteArray();
        return _random.Next(5) switch
        {
            0 => ByteString.Empty,
            1 => ByteString.CopyFrom(bytes.AsSpan(0, bytes.Length / 2)),
            2 => ByteString.CopyFrom([.. bytes, .. bytes]),
            3 => ByteString.CopyFrom(ByteMutator.Mutate(bytes, _random)),
            _ => ByteString.CopyFrom([.. bytes, (byte)_random.Next(256)]),
        };
    }
}
