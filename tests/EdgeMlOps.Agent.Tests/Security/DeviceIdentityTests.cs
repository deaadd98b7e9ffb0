using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Agent.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Agent.Tests.Security;

public sealed class DeviceIdentityTests
{
    [Fact]
    public async Task StoppingJustAfterTheEnrollmentServerRefused_EndsTheLoopQuietly()
    {
        // The order CI met: "connection refused" raised, then SIGTERM before the failure was handled.
        using var stopping = new CancellationTokenSource();
        using var ca = SelfSignedCa();
        using var identity = new DeviceIdentity("dev-1", ca, directory: null, new EnrollmentSettings(new Uri("http://127.0.0.1:9/"), "token"),
            new RefusedThenStopped(stopping), TimeProvider.System, NullLogger.Instance);
        await identity.RunAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Null(identity.Current);
    }

    [Fact]
    public async Task AnUnexpectedFailure_IsRetriedNotFatal()
    {
        var handler = new ThrowsThenRefuses(new IOException("disk gone"));
        using var ca = SelfSignedCa();
        using var identity = new DeviceIdentity("dev-1", ca, directory: null, new EnrollmentSettings(new Uri("http://127.0.0.1:9/"), "token"),
            new HttpClient(handler), TimeProvider.System, NullLogger.Instance);
        Assert.False(await identity.EnsureAsync(CancellationToken.None));
        Assert.False(await identity.EnsureAsync(CancellationToken.None));
        Assert.Equal(2, handler.Calls);
    }

    private static X509Certificate2 SelfSignedCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test fleet CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadCertificate(created.RawData);
    }

    private sealed class RefusedThenStopped(CancellationTokenSource stopping) : HttpClient
    {
        public override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var refused = new HttpRequestException("Connection refused (127.0.0.1:9)");
            stopping.Cancel();
            return Task.FromException<HttpResponseMessage>(refused);
        }
    }

    private sealed class ThrowsThenRefuses(Exception first) : HttpMessageHandler
    {
        public int Calls { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Calls++;
            return Calls == 1 ? Task.FromException<HttpResponseMessage>(first) : Task.FromException<HttpResponseMessage>(new HttpRequestException("Connection refused"));
        }
    }
}
