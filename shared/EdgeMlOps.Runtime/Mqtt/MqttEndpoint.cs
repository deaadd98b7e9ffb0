namespace EdgeMlOps.Runtime.Mqtt;

/// <summary>A broker address parsed from <c>mqtt://host:port</c> (port defaults to 1883).</summary>
public sealed record MqttEndpoint(string Host, int Port)
{
    public static bool TryParse(string? text, out MqttEndpoint endpoint)
    {
        endpoint = new MqttEndpoint("localhost", 1883);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != "mqtt" || string.IsNullOrEmpty(uri.Host)) return false;
        endpoint = new MqttEndpoint(uri.Host, uri.IsDefaultPort || uri.Port <= 0 ? 1883 : uri.Port);
        return true;
    }

    public override string ToString() => $"mqtt://{Host}:{Port}";
}
