using System.Text.Json.Serialization;

namespace EdgeMlOps.Runtime.Security;

/// <summary><c>POST /v1/enroll</c>: a device asks for its first certificate with an enrollment token and a PKCS#10 request over its own key.</summary>
public sealed record EnrollmentRequest(string DeviceId, string Token, string CertificateRequestPem);

/// <summary>
/// <c>POST /v1/enroll/renew</c>: a device with a valid certificate asks for the next one; it proves it
/// holds the current key by signing the new request's DER bytes with it (ECDSA P-256, SHA-256, IEEE P1363).
/// </summary>
public sealed record RenewalRequest(string CertificatePem, string CertificateRequestPem, string Signature);

/// <summary>The certificate issued, the fleet CA it chains to, and when it expires.</summary>
public sealed record EnrollmentResponse(string CertificatePem, string CaPem, DateTimeOffset NotAfter);

/// <summary>Why an enrollment or renewal was refused.</summary>
public sealed record EnrollmentError(string Error);

/// <summary>
/// The enrollment messages' JSON. Every field is required and none may be null: a request missing one is refused as
/// malformed (400) before any of it is acted on.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, PropertyNameCaseInsensitive = true,
    RespectNullableAnnotations = true, RespectRequiredConstructorParameters = true)]
[JsonSerializable(typeof(EnrollmentRequest))]
[JsonSerializable(typeof(RenewalRequest))]
[JsonSerializable(typeof(EnrollmentResponse))]
[JsonSerializable(typeof(EnrollmentError))]
public sealed partial class EnrollmentJson : JsonSerializerContext;
