namespace EdgeMlOps.Agent.Storage;

/// <summary>A second agent pointed at a data directory another agent holds.</summary>
public sealed class DataDirectoryInUseException(string message) : Exception(message);

/// <summary>
/// Holds an agent's data directory for the life of the process (an exclusive lock on <c>agent.lock</c>,
/// released by the kernel if the process dies), so two agents never share samples, outbox and model
/// store and report each other's data as their own.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = "agent.lock";

    private readonly FileStream _lock;

    private DataDirectoryLock(FileStream held) => _lock = held;

    public static DataDirectoryLock Acquire(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        try
        {
            // .NET takes an exclusive advisory lock (flock) for FileShare.None on Unix.
            var held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            held.SetLength(0);
            var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            held.Write(pid);
            held.Flush();
            return new DataDirectoryLock(held);
        }
        catch (IOException ex)
        {
            throw new DataDirectoryInUseException(
                $"Agent:DataDirectory '{Path.GetFullPath(directory)}' is in use by another agent ({FileName} is locked: {ex.Message}); give each agent its own --Agent:DataDirectory.");
        }
    }

    public void Dispose() => _lock.Dispose();
}
