using System.Security.Cryptography.X509Certificates;

namespace EdgeMlOps.Runtime.Security;

/// <summary>What a fleet member may do: a device speaks for itself only; the aggregator runs the fleet.</summary>
public enum FleetRole
{
    Device,
    Aggregator,
}

/// <summary>
/// Who is on the other end of an authenticated connection, read from its certificate's subject
/// (<c>CN=id, OU=role, O=fleet</c>), which only the fleet CA can have issued.
/// </summary>
public sealed record FleetIdentity(string Id, FleetRole Role, string Fleet)
{
    /// <summary>The common name of the aggregator's certificate; no device may enroll under it.</summary>
    public const string AggregatorName = "aggregator";

    public X500DistinguishedName ToSubject()
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName(Fleet);
        builder.AddOrganizationalUnitName(Role == FleetRole.Device ? "device" : "aggregator");
        builder.AddCommonName(Id);
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
            _ => null,
        };
    }

    /// <summary>Device ids that would read as the aggregator's identity or client id.</summary>
    public static bool IsReservedDeviceId(string id) => id.StartsWith(AggregatorName, StringComparison.OrdinalIgnoreCase);
}
