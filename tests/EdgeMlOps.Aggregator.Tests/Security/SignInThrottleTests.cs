using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Aggregator.Governance;
using EdgeMlOps.Aggregator.Security;
using EdgeMlOps.Runtime.Security;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMlOps.Aggregator.Tests.Security;

/// <summary>
/// Guessing an admin token or an enrollment token costs time: past <c>Security:MaxFailedSignInsPerMinute</c> failures
/// from one address within a minute, that address is answered 429 with <c>Retry-After</c> until the minute is out — even
/// with a right credential, which then tells a guesser nothing — and the throttling is a security event. Before, any
/// number of guesses were answered 401 at once.
/// </summary>
public sealed class SignInThrottleTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("203.0.113.7");

    [Fact]
    public void PastTheLimitInAMinute_AnAddressWaitsOutTheMinute_OthersDoNot()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
        var reported = new List<string>();
        var throttle = new SignInThrottle(3, time, reported.Add);
        for (var i = 0; i < 2; i++) throttle.Failed(Guesser);
        Assert.Null(throttle.RetryAfter(Guesser));
        time.Advance(TimeSpan.FromSeconds(20));
        throttle.Failed(IPAddress.Parse("::ffff:203.0.113.7")); // the same address over IPv6
        Assert.Equal(TimeSpan.FromSeconds(40), throttle.RetryAfter(Guesser));
        Assert.Null(throttle.RetryAfter(IPAddress.Parse("203.0.113.8")));
        Assert.Equal(["203.0.113.7"], reported);

        time.Advance(TimeSpan.FromSeconds(40)); // the minute is out: a new one starts with the next failure
        Assert.Null(throttle.RetryAfter(Guesser));
        throttle.Failed(Guesser);
        Assert.Null(throttle.RetryAfter(Guesser));
    }

    [Fact]
    public void AFloodFromMoreAddressesThanItTracks_IsThrottledTogether_NotGrowingTheTable()
    {
        var time = new FakeTimeProvider();
        var throttle = new SignInThrottle(2, time);
        for (var i = 0; i < SignInThrottle.MaxAddresses; i++) throttle.Failed(new IPAddress(i + 1));
        throttle.Failed(IPAddress.Parse("198.51.100.1"));
        throttle.Failed(IPAddress.Parse("198.51.100.2")); // addresses not tracked share one window, now past its limit
        Assert.Equal(SignInThrottle.MaxAddresses + 1, throttle.Tracked);
        Assert.NotNull(throttle.RetryAfter(IPAddress.Parse("198.51.100.3")));
        Assert.Null(throttle.RetryAfter(new IPAddress(1))); // a tracked address keeps its own count

        time.Advance(TimeSpan.FromMinutes(1)); // old windows make room again
        throttle.Failed(IPAddress.Parse("198.51.100.4"));
        Assert.Null(throttle.RetryAfter(IPAddress.Parse("198.51.100.4")));
        Assert.True(throttle.Tracked <= 2, $"{throttle.Tracked} addresses tracked");
    }

    [Fact]
    public void Zero_TurnsItOff()
    {
        var throttle = new SignInThrottle(0, new FakeTimeProvider());
        for (var i = 0; i < 1000; i++) throttle.Failed(Guesser);
        Assert.Null(throttle.RetryAfter(Guesser));
    }

    [Fact]
    public async Task OverHttp_GuessedAdminTokensAndEnrollmentTokens_Get429AfterTheLimit_AndTheEventIsRecorded()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        options = options with
        {
            Security = options.Security with { MaxFailedSignInsPerMinute = 3 },
            Governance = new GovernanceOptions { Identities = [new AdminIdentity("carol", AdminIdentity.HashToken("carol-token"), new HashSet<string> { AdminRoles.Viewer })] },
        };
        await using var node = new AggregatorNode(options);
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        async Task<HttpResponseMessage> Versions(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/models/tiny/versions");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return await http.SendAsync(request);
        }

        Assert.Equal(HttpStatusCode.OK, (await Versions("carol-token")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/admin/models/tiny/versions")).StatusCode); // no token: not a guess
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await Versions($"guess-{i}")).StatusCode);
        var throttled = await Versions("carol-token");
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.InRange(throttled.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Contains("too many failed sign-ins", await throttled.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The same address enrolling: the throttle is the address's, whatever it signs in to.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var enroll = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-1", node.Security.FleetEnrollmentToken, csr), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(HttpStatusCode.TooManyRequests, enroll.StatusCode);
        Assert.Equal(1, node.Security.Events.Count(SecurityEventKind.SignInThrottled));
        Assert.Contains(node.Security.Events.Recent(10), e => e.Kind == SecurityEventKind.SignInThrottled && e.Subject == "127.0.0.1");
    }

    [Fact]
    public async Task GuessedEnrollmentTokens_AloneGet429AfterTheLimit()
    {
        var options = AggregatorFixture.Options(AggregatorFixture.TempDirectory(), clients: 1);
        await using var node = new AggregatorNode(options with { Security = options.Security with { MaxFailedSignInsPerMinute = 2 } });
        await node.StartAsync(CancellationToken.None);
        using var http = new HttpClient { BaseAddress = node.ArtifactBaseUrl };
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=x", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        Task<HttpResponseMessage> Enroll(string token) => http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-1", token, csr), EnrollmentJson.Default.EnrollmentRequest);
        var malformed = await http.PostAsJsonAsync("/v1/enroll", new EnrollmentRequest("dev-1", node.Security.FleetEnrollmentToken, "not a CSR"), EnrollmentJson.Default.EnrollmentRequest);
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode); // a broken request is no failed sign-in
        Assert.Equal(HttpStatusCode.Unauthorized, (await Enroll("guess-1")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Enroll("guess-2")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await Enroll(node.Security.FleetEnrollmentToken)).StatusCode);
    }
}
