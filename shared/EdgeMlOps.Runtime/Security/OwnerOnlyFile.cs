namespace EdgeMlOps.Runtime.Security;

/// <summary>Writes secrets (private keys, tokens) readable by the owner only, replacing the file atomically.</summary>
public static class OwnerOnlyFile
{
    public static void WriteAllText(string path, string text) =>
        Storage.AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(text), durable: false, ownerOnly: true);
}
