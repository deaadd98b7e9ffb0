using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Shared.Protocol.V1;

namespace EdgeMlOps.Shared.Trust;

/// <summary>
/// The outcome of P-256 verifications already made in this process, keyed by a SHA-256 digest of everything the outcome
/// depends on (the public key, the signature, the body type and the body): the same envelope checked again — a retained
/// statement redelivered on every reconnection, the freshness statement checked with each message, or one announcement
/// checked by every agent a simulator hosts — costs a hash instead of an ECDSA verification and a key import. Sound
/// because the digest covers every input; bounded (<see cref="Capacity"/> outcomes, then it starts over), and refusals are
/// kept too, so forged envelopes sent again cost no more than good ones.
/// </summary>
internal static class SignatureResults
{
    /// <summary>Outcomes kept before the cache starts over.</summary>
    public const int Capacity = 4096;

    private static readonly ConcurrentDictionary<Digest, bool> Outcomes = new();

    /// <summary>The outcome kept for <paramref name="digest"/>, if any.</summary>
    public static bool TryGet(Digest digest, out bool outcome) => Outcomes.TryGetValue(digest, out outcome);

    /// <summary>Keeps an outcome (the cache starts over once full).</summary>
    public static void Add(Digest digest, bool outcome)
    {
        if (Outcomes.Count >= Capacity) Outcomes.Clear();
        Outcomes[digest] = outcome;
    }

    /// <summary>Outcomes kept now.</summary>
    public static int Count => Outcomes.Count;

    /// <summary>SHA-256 over every input of a verification, each length-prefixed.</summary>
    public static Digest DigestOf(ReadOnlySpan<byte> publicKey, Signed envelope, Signature signature)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Part(hash, publicKey);
        Part(hash, signature.Value.Span);
        Part(hash, Encoding.UTF8.GetBytes(envelope.BodyType));
        Part(hash, envelope.Body.Span);
        Span<byte> value = stackalloc byte[32];
        hash.GetHashAndReset(value);
        return new Digest(
            BitConverter.ToUInt64(value[..8]), BitConverter.ToUInt64(value[8..16]), BitConverter.ToUInt64(value[16..24]), BitConverter.ToUInt64(value[24..]));
    }

    /// <summary>One input, length-prefixed: no two ways of splitting the same bytes hash alike.</summary>
    private static void Part(IncrementalHash hash, ReadOnlySpan<byte> part)
    {
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, part.Length);
        hash.AppendData(length);
        hash.AppendData(part);
    }

    /// <summary>A SHA-256 digest as four words (a dictionary key without allocations).</summary>
    public readonly record struct Digest(ulong A, ulong B, ulong C, ulong D);
}
