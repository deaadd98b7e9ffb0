using System.Text.Json;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace EdgeMlOps.Aggregator.Http;

/// <summary>
/// Device enrollment over HTTP(S): <c>POST /v1/enroll</c> (token and CSR), <c>POST /v1/enroll/renew</c>
/// (proof of the current key) and <c>GET /v1/trust/fleet-ca</c> (the CA certificate, to compare with
/// the fingerprint an operator hands out). Bodies over 16 KiB are refused unread; an address with too many failed
/// sign-ins in a minute is answered 429 (<see cref="SignInThrottle"/>).
/// </summary>
public static class EnrollmentApi
{
    public const int MaxBodyBytes = 16 * 1024;

    public static void Map(WebApplication app)
    {
        app.MapPost("/v1/enroll", (HttpContext http, [FromServices] FleetSecurity security) =>
            HandleAsync(http, security.SignIns, EnrollmentJson.Default.EnrollmentRequest, request => security.Enrollment.Enroll(request)));
        app.MapPost("/v1/enroll/renew", (HttpContext http, [FromServices] FleetSecurity security) =>
            HandleAsync(http, security.SignIns, EnrollmentJson.Default.RenewalRequest, request => security.Enrollment.Renew(request)));
        app.MapGet("/v1/trust/fleet-ca", ([FromServices] FleetSecurity security) => Results.Text(security.Authority.Certificate.ExportCertificatePem() + "\n", "application/x-pem-file"));
    }

    private static async Task<IResult> HandleAsync<T>(HttpContext http, SignInThrottle signIns, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, Func<T, EnrollmentOutcome> handle)
        where T : class
    {
        if (signIns.RetryAfter(http.Connection.RemoteIpAddress) is { } wait) return AdminGuard.TooManyFailures(http, wait);
        var tooLarge = Error(StatusCodes.Status413PayloadTooLarge, $"body over {MaxBodyBytes} bytes");
        if (http.Request.ContentLength > MaxBodyBytes) return tooLarge;
        var body = new byte[MaxBodyBytes + 1];
        var length = 0;
        int n;
        while (length < body.Length && (n = await http.Request.Body.ReadAsync(body.AsMemory(length), http.RequestAborted).ConfigureAwait(false)) > 0) length += n;
        if (length > MaxBodyBytes) return tooLarge;
        T? request;
        try
        {
            request = JsonSerializer.Deserialize(body.AsSpan(0, length), type);
        }
        catch (JsonException ex)
        {
            return Error(StatusCodes.Status400BadRequest, "body is not valid JSON for this call: " + ex.Message);
        }

        if (request is null) return Error(StatusCodes.Status400BadRequest, "body is required");
        var outcome = handle(request);
        if (outcome.Status == StatusCodes.Status401Unauthorized) signIns.Failed(http.Connection.RemoteIpAddress); // a token or proof that is no one's
        return outcome.Issued is { } issued
            ? Results.Json(issued, EnrollmentJson.Default.EnrollmentResponse)
            : Error(outcome.Status, outcome.Error ?? "refused");
    }

    private static IResult Error(int status, string error) => Results.Json(new EnrollmentError(error), EnrollmentJson.Default.EnrollmentError, statusCode: status);
}
