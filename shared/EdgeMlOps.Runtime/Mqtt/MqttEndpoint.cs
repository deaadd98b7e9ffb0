namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>
/// A broker address parsed from <c>mqtts://host:port</c> (TLS, port 8883 by default) or
/// <c>mqtt://host:port</c> (plain TCP, port 1883 by default; for development only).
/// </summary>
public sealed record MqttEndpoint(string Host, int Port, bool Tls = false)
{
    public const int DefaultPort = 1883;
    public const int DefaultTlsPort = 8883;

    public static bool TryParse(string? text, out MqttEndpoint endpoint)
    {
        endpoint = new MqttEndpoint("localhost", DefaultTlsPort, Tls: true);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("mqtt" or "mqtts") || string.IsNullOrEmpty(uri.Host)) return false;
        var tls = uri.Scheme == "mqtts";
        endpoint = new MqttEndpoint(uri.Host, uri.IsDefaultPort || uri.Port <= 0 ? (tls ? DefaultTlsPort : DefaultPort) : uri.Port, tls);
        return true;
    }

    public override string ToString() => $"{(Tls ? "mqtts" : "mqtt")}://{Host}:{Port}";
}
