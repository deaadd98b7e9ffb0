using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Runtime.Security;

/// <summary>What a fleet member may do: a device speaks for itself only; the aggregator runs the fleet; an edge gateway speaks for its site's devices.</summary>
public enum FleetRole
{
    Device,
    Aggregator,
    Gateway,
}

/// <summary>
/// Who is on the other end of an authenticated connection, read from its certificate's subject
/// (<c>CN=id, OU=role, O=fleet</c>), which only the fleet CA can have issued. A gateway's common name is its client id
/// (<c>gateway-{id}</c>): brokers that take the common name as the user name and client id (Mosquitto's
/// <c>use_identity_as_username</c>) then never confuse a gateway with a device of the same name.
/// </summary>
public sealed record FleetIdentity(string Id, FleetRole Role, string Fleet)
{
    /// <summary>The common name of the aggregator's certificate; no device may enroll under it.</summary>
    public const string AggregatorName = "aggregator";

    /// <summary>The prefix of an edge gateway's MQTT client id (<c>gateway-{id}</c>); no device may enroll under it.</summary>
    public const string GatewayClientPrefix = "gateway-";

    public X500DistinguishedName ToSubject()
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName(Fleet);
        builder.AddOrganizationalUnitName(Role switch { FleetRole.Device => "device", FleetRole.Gateway => "gateway", _ => "aggregator" });
        builder.AddCommonName(Role == FleetRole.Gateway ? GatewayClientId(Id) : Id);
        return builder.Build();
    }

    /// <summary>Reads the identity from a certificate subject, or null when it is not one of ours.</summary>
    public static FleetIdentity? FromCertificate(X509Certificate2 certificate)
    {
        string? cn = null, ou = null, o = null;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements) return null;
            var value = rdn.GetSingleElementValue();
            switch (rdn.GetSingleElementType().Value)
            {
                case "2.5.4.3": cn = value; break;
                case "2.5.4.11": ou = value; break;
                case "2.5.4.10": o = value; break;
            }
        }

        if (string.IsNullOrEmpty(cn) || string.IsNullOrEmpty(o)) return null;
        return ou switch
        {
            "device" => new FleetIdentity(cn, FleetRole.Device, o),
            "aggregator" => new FleetIdentity(cn, FleetRole.Aggregator, o),
            "gateway" when cn.StartsWith(GatewayClientPrefix, StringComparison.Ordinal) && cn.Length > GatewayClientPrefix.Length
                => new FleetIdentity(cn[GatewayClientPrefix.Length..], FleetRole.Gateway, o),
            _ => null,
        };
    }

    /// <summary>Device ids that would read as the aggregator's identity or client id.</summary>
    public static bool IsReservedDeviceId(string id) =>
        id.StartsWith(AggregatorName, StringComparison.OrdinalIgnoreCase) || id.StartsWith(GatewayClientPrefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>The MQTT client id gateway <paramref name="gatewayId"/> connects to the fleet's broker with.</summary>
    public static string GatewayClientId(string gatewayId) => GatewayClientPrefix + gatewayId;
}
