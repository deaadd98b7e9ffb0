namespace EdgeMlOps.Aggregator;

/// <summary>
/// The aggregator's broker port or API address is taken (a second aggregator, a broker already listening there): the host
/// stops with exit code 2 saying which setting and what to do, instead of an unhandled socket error.
/// </summary>
public sealed class PortInUseException(string message, Exception inner) : Exception(message, inner)
{
    /// <summary>The API address of <paramref name="options"/>' aggregator is taken: the fleet's <c>Aggregator:HttpUrl</c>, or a model line's own.</summary>
    public static PortInUseException ForHttpUrl(AggregatorOptions options, Exception failure)
    {
        var setting = options.Line is { } line ? $"{AggregatorOptions.Section}:{Lines.ModelLinesConfiguration.Section}:{line}:HttpUrl" : $"{AggregatorOptions.Section}:HttpUrl";
        return new PortInUseException($"{setting}: {options.HttpUrl} is already in use (another aggregator, or another model's API?); give this one its own --{setting}=https://127.0.0.1:PORT", failure);
    }

    /// <summary>Whether <paramref name="ex"/> (or what it wraps) says an address is already in use.</summary>
    public static bool IsAddressInUse(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }
                || ex is Microsoft.AspNetCore.Connections.AddressInUseException) return true; // Kestrel's
        }

        return false;
    }
}
