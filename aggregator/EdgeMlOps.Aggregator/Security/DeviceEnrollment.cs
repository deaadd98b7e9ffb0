using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Protocol;
using EdgeMlOps.Shared.Security;

namespace EdgeMlOps.Aggregator.Security;

/// <summary>An enrollment outcome: the certificate, or the reason (and HTTP status) of a refusal.</summary>
public sealed record EnrollmentOutcome(EnrollmentResponse? Issued, int Status, string? Error)
{
    public static EnrollmentOutcome Refused(int status, string error) => new(null, status, error);
}

/// <summary>
/// Issues device certificates: the first one for an enrollment token (the fleet token or a one-time
/// token an operator created, possibly bound to one device id) and a PKCS#10 request whose signature
/// proves the device holds the key; later ones for proof of the current key (renewal). A device id
/// that already holds a live certificate cannot be enrolled again with a token (that would let any
/// token holder take over a device), and a revoked device gets nothing until an operator lifts it. An enrollment
/// asked again for the key of the device's live certificate is answered again, token or not: its answer was lost on
/// the way (a timeout, a dropped link, a failure here after the certificate was recorded), and the requester proves it
/// holds that key — what a renewal proves.
/// </summary>
public sealed class DeviceEnrollment(FleetCertificateAuthority ca, SecurityStore store, SecurityEvents events, BrokerGuard? guard, SecurityOptions options, string fleetTokenSha256, TimeProvider time)
{
    public EnrollmentOutcome Enroll(EnrollmentRequest request)
    {
        if (!Topics.IsValidSegment(request.DeviceId) || FleetIdentity.IsReservedDeviceId(request.DeviceId))
        {
            return Refuse(request.DeviceId, 400, $"'{request.DeviceId}' is not a valid device id");
        }

        var now = time.GetUtcNow();
        var tokenSha = Sha256(request.Token ?? string.Empty);
        var fleetToken = CryptographicOperations.FixedTimeEquals(Convert.FromHexString(tokenSha), Convert.FromHexString(fleetTokenSha256));
        if (IsRevoked(request.DeviceId)) return Refuse(request.DeviceId, 403, $"device '{request.DeviceId}' is revoked");
        if (IsAskedAgain(request, now)) return Issue(request.DeviceId, request.CertificateRequestPem, SecurityEventKind.DeviceEnrolled, now, " (asked again for the key of its live certificate)");
        if (fleetToken && store.HasLiveCertificate(request.DeviceId, now))
        {
            return Refuse(request.DeviceId, 409, $"device '{request.DeviceId}' is already enrolled: renew with its current key, or have an operator issue a one-time token bound to it");
        }

        if (!fleetToken && !store.TrySpendToken(tokenSha, request.DeviceId, now))
        {
            return Refuse(request.DeviceId, 401, "enrollment token unknown, expired, used up or bound to another device");
        }

        return Issue(request.DeviceId, request.CertificateRequestPem, SecurityEventKind.DeviceEnrolled, now);
    }

    public EnrollmentOutcome Renew(RenewalRequest request)
    {
        X509Certificate2 current;
        try
        {
            current = X509Certificate2.CreateFromPem(request.CertificatePem);
        }
        catch (CryptographicException ex)
        {
            return Refuse("(renewal)", 400, "certificate is not PEM: " + ex.Message);
        }

        using (current)
        {
            var now = time.GetUtcNow();
            if (!CertificateChain.IsIssuedBy(current, ca.Certificate, now, out var error)) return Refuse(current.Subject, 401, "current certificate is not valid: " + error);
            if (FleetIdentity.FromCertificate(current) is not { Role: FleetRole.Device } who || who.Fleet != ca.Fleet) return Refuse(current.Subject, 401, "not a device certificate of this fleet");
            if (IsRevoked(who.Id)) return Refuse(who.Id, 403, $"device '{who.Id}' is revoked");
            using var key = current.GetECDsaPublicKey();
            byte[] csrDer, signature;
            try
            {
                csrDer = PemEncoding.TryFind(request.CertificateRequestPem, out var fields) ? Convert.FromBase64String(request.CertificateRequestPem[fields.Base64Data]) : throw new FormatException("no PEM block");
                signature = Convert.FromBase64String(request.Signature);
            }
            catch (FormatException ex)
            {
                return Refuse(who.Id, 400, "request or signature is not well-formed: " + ex.Message);
            }

            if (key is null || !key.VerifyData(csrDer, signature, HashAlgorithmName.SHA256)) return Refuse(who.Id, 401, "renewal is not signed by the current certificate's key");
            return Issue(who.Id, request.CertificateRequestPem, SecurityEventKind.CertificateRenewed, now);
        }
    }

    /// <summary>
    /// Whether the request is for the key of a live certificate of the same device. The request's signature is checked
    /// only for a device that holds a live certificate (and again by <see cref="Issue"/>).
    /// </summary>
    private bool IsAskedAgain(EnrollmentRequest request, DateTimeOffset now)
    {
        return store.HasLiveCertificate(request.DeviceId, now) && LoadRequest(request.CertificateRequestPem, out var csr, out _)
            && store.HasLiveCertificateFor(request.DeviceId, SecurityStore.KeySha256(csr!.PublicKey), now);
    }

    /// <summary>
    /// Loads a PKCS#10 request and verifies its self-signature (the requester holds the private key). A request naming an
    /// algorithm or curve this platform does not know throws <see cref="NotSupportedException"/>, not a
    /// <see cref="CryptographicException"/>: both are the request's fault (they once answered 500).
    /// </summary>
    private static bool LoadRequest(string? pem, out CertificateRequest? csr, out string error)
    {
        try
        {
            csr = CertificateRequest.LoadSigningRequestPem(pem ?? string.Empty, HashAlgorithmName.SHA256, CertificateRequestLoadOptions.Default);
            error = string.Empty;
            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or NotSupportedException)
        {
            (csr, error) = (null, ex.Message);
            return false;
        }
    }

    private EnrollmentOutcome Issue(string deviceId, string csrPem, SecurityEventKind kind, DateTimeOffset now, string note = "")
    {
        if (!LoadRequest(csrPem, out var csr, out var invalid)) return Refuse(deviceId, 400, "certificate request is not a valid signed PKCS#10 request: " + invalid);
        if (!IsP256(csr!.PublicKey)) return Refuse(deviceId, 400, "the key must be ECDSA (P-256)");
        X509Certificate2 certificate;
        try
        {
            certificate = ca.IssueClient(new FleetIdentity(deviceId, FleetRole.Device, ca.Fleet), csr.PublicKey, now, options.DeviceCertificateLifetime);
        }
        catch (Exception ex) when (ex is CryptographicException or NotSupportedException)
        {
            return Refuse(deviceId, 400, "the request's key cannot be certified: " + ex.Message);
        }

        using var issued = certificate;
        store.RecordCertificate(deviceId, certificate.SerialNumber, certificate.NotAfter.ToUniversalTime(), now, SecurityStore.KeySha256(csr.PublicKey));
        events.Record(kind, deviceId, $"certificate {certificate.SerialNumber} until {certificate.NotAfter.ToUniversalTime():O}{note}");
        return new EnrollmentOutcome(new EnrollmentResponse(certificate.ExportCertificatePem(), ca.Certificate.ExportCertificatePem(), certificate.NotAfter.ToUniversalTime()), 200, null);
    }

    /// <summary>An ECDSA key on P-256 whose parameters load (a request's key with a mangled curve once failed the issuing with a 500).</summary>
    private static bool IsP256(PublicKey key)
    {
        if (key.Oid.Value != "1.2.840.10045.2.1") return false;
        try
        {
            using var ecdsa = key.GetECDsaPublicKey();
            return ecdsa is not null && ecdsa.ExportParameters(false).Curve.Oid.Value == "1.2.840.10045.3.1.7";
        }
        catch (Exception ex) when (ex is CryptographicException or NotSupportedException)
        {
            return false;
        }
    }

    private bool IsRevoked(string deviceId) => guard?.IsRevoked(deviceId) ?? store.RevokedDevices().Contains(deviceId);

    private EnrollmentOutcome Refuse(string subject, int status, string error)
    {
        events.Record(SecurityEventKind.EnrollmentRefused, subject, error);
        return EnrollmentOutcome.Refused(status, error);
    }

    public static string Sha256(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
