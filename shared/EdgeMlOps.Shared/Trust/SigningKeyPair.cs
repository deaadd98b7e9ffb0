using System.Security.Cryptography;
using System.Text;
using EdgeMlOps.Shared.Protocol.V1;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Trust;

/// <summary>
/// An ECDSA P-256 key pair that signs protocol messages (roots, manifest and rollout keys).
/// Signatures cover a domain prefix naming the body's type, so a signed bundle can never be
/// replayed as a manifest or a plan.
/// </summary>
public sealed class SigningKeyPair : IDisposable
{
    private readonly ECDsa _key;

    private SigningKeyPair(ECDsa key)
    {
        _key = key;
        PublicKey = key.ExportSubjectPublicKeyInfo();
        KeyId = Signatures.KeyIdOf(PublicKey);
    }

    /// <summary>SubjectPublicKeyInfo (DER): what devices pin and bundles certify.</summary>
    public byte[] PublicKey { get; }

    public string KeyId { get; }

    public static SigningKeyPair Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>Imports a PKCS#8 private key; throws <see cref="CryptographicException"/> for anything but a P-256 key.</summary>
    public static SigningKeyPair FromPkcs8(ReadOnlySpan<byte> pkcs8)
    {
        var key = ECDsa.Create();
        key.ImportPkcs8PrivateKey(pkcs8, out _);
        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new CryptographicException($"expected an ECDSA P-256 key, got {key.KeySize} bits");
        }

        return new SigningKeyPair(key);
    }

    public byte[] ExportPkcs8() => _key.ExportPkcs8PrivateKey();

    public Signature Sign(string bodyType, ReadOnlySpan<byte> body) => new()
    {
        KeyId = KeyId,
        Value = ByteString.CopyFrom(_key.SignData(Signatures.SignedBytes(bodyType, body), HashAlgorithmName.SHA256)),
    };

    public void Dispose() => _key.Dispose();
}

/// <summary>Packing, signing and checking <see cref="Signed"/> envelopes.</summary>
public static class Signatures
{
    /// <summary>First 32 hex characters of the sha256 of a public key's SubjectPublicKeyInfo.</summary>
    public static string KeyIdOf(ReadOnlySpan<byte> publicKey) => Convert.ToHexStringLower(SHA256.HashData(publicKey))[..32];

    /// <summary>Why <paramref name="publicKey"/> is not an ECDSA P-256 SubjectPublicKeyInfo (DER, nothing after it), or null when it is.</summary>
    public static string? PublicKeyProblem(ReadOnlySpan<byte> publicKey)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(publicKey, out var read);
            return key.KeySize != 256 ? $"a {key.KeySize}-bit key" : read != publicKey.Length ? $"{publicKey.Length - read} bytes after the key" : null;
        }
        catch (CryptographicException ex)
        {
            return ex.Message.TrimEnd('.');
        }
    }

    /// <summary>The body type written into (and signed with) an envelope: the message's protobuf name.</summary>
    public static string TypeOf<T>() where T : IMessage<T>, new() => new T().Descriptor.Name;

    /// <summary>Serializes <paramref name="body"/> and signs it with every key given.</summary>
    public static Signed Sign<T>(T body, params SigningKeyPair[] keys) where T : IMessage<T>, new()
    {
        var bytes = body.ToByteArray();
        var type = TypeOf<T>();
        var signed = new Signed { BodyType = type, Body = ByteString.CopyFrom(bytes) };
        foreach (var key in keys) signed.Signatures.Add(key.Sign(type, bytes));
        return signed;
    }

    /// <summary>
    /// True if <paramref name="signature"/> is a valid P-256 signature by <paramref name="publicKey"/> over the envelope;
    /// the same inputs checked again in this process answer from <see cref="SignatureResults"/>.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, Signed envelope, Signature signature)
    {
        var digest = SignatureResults.DigestOf(publicKey, envelope, signature);
        if (SignatureResults.TryGet(digest, out var known)) return known;
        var outcome = VerifyNow(publicKey, envelope, signature);
        SignatureResults.Add(digest, outcome);
        return outcome;
    }

    /// <summary><see cref="Verify"/> without the cache: an ECDSA verification every time.</summary>
    internal static bool VerifyNow(ReadOnlySpan<byte> publicKey, Signed envelope, Signature signature)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(publicKey, out _);
            return key.KeySize == 256 && key.VerifyData(SignedBytes(envelope.BodyType, envelope.Body.Span), signature.Value.Span, HashAlgorithmName.SHA256);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    internal static byte[] SignedBytes(string bodyType, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"edgemlops/v1/{bodyType}\n");
        var data = new byte[prefix.Length + body.Length];
        prefix.CopyTo(data, 0);
        body.CopyTo(data.AsSpan(prefix.Length));
        return data;
    }
}
