namespace EdgeMlOps.Aggregator.Trust;

/// <summary>
/// A file of the fleet's key material (its root or signing keys, their signed bundle, the device CA) that cannot be read.
/// Never replaced by a new key: devices pin this fleet's root and CA, so a new one would cut every device off. The host
/// stops with exit code 2 naming the file.
/// </summary>
public sealed class KeyMaterialException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary><paramref name="read"/>'s result, or a <see cref="KeyMaterialException"/> naming <paramref name="path"/> when its content is damaged.</summary>
    public static T Read<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or Google.Protobuf.InvalidProtocolBufferException or InvalidDataException)
        {
            throw Damaged(path, ex.Message.TrimEnd('.'), ex);
        }
    }

    /// <summary>The refusal for <paramref name="path"/>, damaged for <paramref name="reason"/>.</summary>
    public static KeyMaterialException Damaged(string path, string reason, Exception? inner = null) =>
        new($"{Path.GetFullPath(path)} is damaged ({reason}): the fleet's keys cannot be read, and no new one is made in its place, as devices pin them. Restore the data directory from its backup (--backup DIR made one)", inner);
}
