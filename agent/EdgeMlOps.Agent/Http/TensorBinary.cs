using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using EdgeMlOps.Runtime;
using EdgeMlOps.Shared.Models;

namespace EdgeMlOps.Agent.Http;

/// <summary>
/// The compact body of <c>POST /v1/infer/bin</c>, for images and audio where JSON numbers cost 4–5× the bytes (a
/// 224×224 RGB image is 602 kB here, ~1.6 MB as JSON). Little-endian throughout:
/// <code>
/// "EMT1"                              magic
/// u16 n, n bytes                      session id, UTF-8 (n = 0: none)
/// u16 count                           inputs that follow
/// per input: u16 n, n bytes           name, UTF-8 (its element type is the declared one)
///            u8 rank, rank × i64      dims
///            values, row-major        float32 / float64 / int64 / int32: raw; bool: one byte 0 or 1;
///                                     string: u32 byte length + UTF-8 per element
/// </code>
/// Every length is checked against what is left before anything is allocated; the answer is the same JSON as <c>/v1/infer</c>.
/// </summary>
public static class TensorBinary
{
    public static ReadOnlySpan<byte> Magic => "EMT1"u8;

    public static bool TryParse(ReadOnlySpan<byte> body, TensorInterface declared, out List<NamedTensor> inputs, out string? session, out string? error)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("the binary body is read as little-endian memory");
        inputs = [];
        session = null;
        var reader = new Reader(body);
        if (!body.StartsWith(Magic)) return Fail("the body must start with the magic \"EMT1\" (see docs/MODELS.md for the layout)", out error);
        reader.Skip(Magic.Length);
        if (!reader.TryText(out var id, out error)) return false;
        if (id.Length > Serving.RecurrentSessions.MaxSessionIdLength) return Fail($"the session id is longer than {Serving.RecurrentSessions.MaxSessionIdLength} characters", out error);
        session = id.Length > 0 ? id : null;
        if (!reader.TryU16(out var count)) return Fail("the body ends before the input count", out error);
        for (var k = 0; k < count; k++)
        {
            if (!reader.TryText(out var name, out error)) return false;
            var signature = declared.Accepted.FirstOrDefault(i => i.Name == name);
            if (signature is null) return Fail($"the model has no input '{name}' (inputs: {string.Join(", ", declared.Accepted.Select(i => i.Name))})", out error);
            if (inputs.Any(i => i.Name == name)) return Fail($"input '{name}' is given twice", out error);
            if (!reader.TryByte(out var rank) || rank > TensorSignature.MaxRank) return Fail($"input '{name}': a rank of at most {TensorSignature.MaxRank} must follow its name", out error);
            var dims = new long[rank];
            for (var d = 0; d < rank; d++)
            {
                if (!reader.TryI64(out dims[d]) || dims[d] < 0) return Fail($"input '{name}': its dims are cut short or negative", out error);
            }

            var elements = NamedTensor.ElementCount(dims);
            if (elements < 0 || !TryValues(ref reader, signature, elements, out var data, out error)) return elements < 0 ? Fail($"input '{name}': its dims overflow", out error) : false;
            inputs.Add(new NamedTensor(name, signature.Type, dims, data!));
        }

        return reader.Remaining == 0 || Fail($"{reader.Remaining} bytes follow the last input", out error);
    }

    private static bool TryValues(ref Reader reader, TensorSignature signature, long elements, out Array? data, out string? error)
    {
        data = null;
        var width = signature.Type switch { TensorElement.Float or TensorElement.Int32 => 4, TensorElement.Double or TensorElement.Int64 => 8, TensorElement.Bool => 1, _ => 0 };
        // Compared by division: elements × width can overflow a long (dims of 2^62 floats wrap to 0 bytes).
        if (width > 0 && elements > reader.Remaining / width) return Fail($"input '{signature.Name}' needs {(decimal)elements * width} bytes of values; {reader.Remaining} are left", out error);
        if (width == 0 && elements > reader.Remaining / sizeof(uint)) return Fail($"input '{signature.Name}' needs {elements} strings; the body is too short for them", out error);
        var bytes = reader.Take((int)(elements * width));
        switch (signature.Type)
        {
            // The wire is little-endian and so is every target the agent ships for (x64, arm64): a reinterpreting copy.
            case TensorElement.Float:
                data = MemoryMarshal.Cast<byte, float>(bytes).ToArray();
                break;
            case TensorElement.Double:
                data = MemoryMarshal.Cast<byte, double>(bytes).ToArray();
                break;
            case TensorElement.Int64:
                data = MemoryMarshal.Cast<byte, long>(bytes).ToArray();
                break;
            case TensorElement.Int32:
                data = MemoryMarshal.Cast<byte, int>(bytes).ToArray();
                break;
            case TensorElement.Bool:
                if (bytes.IndexOfAnyExcept((byte)0, (byte)1) is var bad and >= 0) return Fail($"input '{signature.Name}' value {bad} is {bytes[bad]}, not a bool (0 or 1)", out error);
                data = MemoryMarshal.Cast<byte, bool>(bytes).ToArray();
                break;
            default:
                var s = new string[elements];
                for (var i = 0; i < s.Length; i++)
                {
                    if (!reader.TryU32(out var length) || length > TensorJson.MaxStringLength * 4 || length > reader.Remaining) return Fail($"input '{signature.Name}' string {i} is cut short or longer than {TensorJson.MaxStringLength * 4} bytes", out error);
                    try
                    {
                        s[i] = new UTF8Encoding(false, true).GetString(reader.Take((int)length));
                    }
                    catch (DecoderFallbackException)
                    {
                        return Fail($"input '{signature.Name}' string {i} is not UTF-8", out error);
                    }
                }

                data = s;
                break;
        }

        error = null;
        return true;
    }

    private static bool Fail(string message, out string? error)
    {
        error = message;
        return false;
    }

    /// <summary>A cursor over the body; every read checks what is left.</summary>
    private ref struct Reader(ReadOnlySpan<byte> body)
    {
        private ReadOnlySpan<byte> _rest = body;

        public readonly int Remaining => _rest.Length;

        public void Skip(int count) => _rest = _rest[count..];

        public ReadOnlySpan<byte> Take(int count)
        {
            var taken = _rest[..count];
            _rest = _rest[count..];
            return taken;
        }

        public bool TryByte(out byte value)
        {
            value = 0;
            if (_rest.Length < 1) return false;
            value = Take(1)[0];
            return true;
        }

        public bool TryU16(out ushort value)
        {
            value = 0;
            if (_rest.Length < 2) return false;
            value = BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
            return true;
        }

        public bool TryU32(out uint value)
        {
            value = 0;
            if (_rest.Length < 4) return false;
            value = BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
            return true;
        }

        public bool TryI64(out long value)
        {
            value = 0;
            if (_rest.Length < 8) return false;
            value = BinaryPrimitives.ReadInt64LittleEndian(Take(8));
            return true;
        }

        public bool TryText(out string text, out string? error)
        {
            text = string.Empty;
            error = null;
            if (!TryU16(out var length) || length > _rest.Length) return Fail("a name or session id is cut short", out error);
            try
            {
                text = new UTF8Encoding(false, true).GetString(Take(length));
                return true;
            }
            catch (DecoderFallbackException)
            {
                return Fail("a name or session id is not UTF-8", out error);
            }
        }
    }
}
