using System.Security.Cryptography;

namespace EdgeMlOps.Shared.Hashing;

/// <summary>Content addresses: lowercase hex SHA-256.</summary>
public static class ContentHash
{
    public static string Sha256Hex(ReadOnlySpan<byte> data) =>
        Convert.ToHexStringLower(SHA256.HashData(data));

    public static bool IsSha256Hex(string? value) =>
        value is { Length: 64 } && value.AsSpan().IndexOfAnyExcept("0123456789abcdef") < 0;
}
