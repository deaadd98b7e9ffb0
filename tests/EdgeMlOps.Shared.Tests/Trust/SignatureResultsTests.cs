using EdgeMlOps.Shared.Protocol.V1;
using EdgeMlOps.Shared.Trust;
using Google.Protobuf;

namespace EdgeMlOps.Shared.Tests.Trust;

/// <summary>
/// Verifications answered from the process's cache of outcomes: the same envelope costs a hash the second time, and
/// nothing that differs in one byte — body, body type, signature or key — can borrow another envelope's outcome.
/// </summary>
public sealed class SignatureResultsTests : IDisposable
{
    private readonly SigningKeyPair _key = SigningKeyPair.Generate();
    private readonly SigningKeyPair _other = SigningKeyPair.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _other.Dispose();
    }

    private Signed Statement(string fleet) => Signatures.Sign(new FreshnessStatement { Fleet = fleet, IssuedUnixMs = 7 }, _key);

    [Fact]
    public void AVerifiedEnvelope_IsAnsweredFromTheCache_TheSecondTime()
    {
        var signed = Statement("cache-" + Guid.NewGuid().ToString("N"));
        var digest = SignatureResults.DigestOf(_key.PublicKey, signed, signed.Signatures[0]);
        Assert.False(SignatureResults.TryGet(digest, out _));

        Assert.True(Signatures.Verify(_key.PublicKey, signed, signed.Signatures[0]));
        Assert.True(SignatureResults.TryGet(digest, out var kept) && kept);
        Assert.True(Signatures.Verify(_key.PublicKey, signed, signed.Signatures[0]));
    }

    [Fact]
    public void AfterAGoodEnvelopeWasVerified_OneByteChangedAnywhere_IsStillRefused()
    {
        var signed = Statement("tamper-" + Guid.NewGuid().ToString("N"));
        var signature = signed.Signatures[0];
        Assert.True(Signatures.Verify(_key.PublicKey, signed, signature));

        var body = signed.Body.ToByteArray();
        body[^1] ^= 1;
        var tamperedBody = new Signed { BodyType = signed.BodyType, Body = ByteString.CopyFrom(body) };
        Assert.False(Signatures.Verify(_key.PublicKey, tamperedBody, signature));

        var otherType = new Signed { BodyType = "TrustBundle", Body = signed.Body };
        Assert.False(Signatures.Verify(_key.PublicKey, otherType, signature));

        var bits = signature.Value.ToByteArray();
        bits[^1] ^= 1;
        Assert.False(Signatures.Verify(_key.PublicKey, signed, new Signature { KeyId = signature.KeyId, Value = ByteString.CopyFrom(bits) }));

        Assert.False(Signatures.Verify(_other.PublicKey, signed, signature)); // another key: not its signature
        Assert.False(Signatures.Verify(_other.PublicKey, signed, signature)); // and again, now from the cache
        Assert.True(Signatures.Verify(_key.PublicKey, signed, signature));
    }

    [Fact]
    public void TheCache_StaysBounded()
    {
        for (var i = 0; i < SignatureResults.Capacity + 10; i++)
        {
            SignatureResults.Add(new SignatureResults.Digest((ulong)i, 1, 2, 3), true);
        }

        Assert.True(SignatureResults.Count <= SignatureResults.Capacity, $"{SignatureResults.Count} outcomes kept");
    }
}
