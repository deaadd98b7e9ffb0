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

    [Fact]
    public async Task EnsureWithRetry_TriesTheGivenNumberOfTimes_PausingLongerEachTime_ThenGivesUp()
    {
        var handler = new ThrowsThenRefuses(new HttpRequestException("Connection refused"));
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        using var ca = SelfSignedCa();
        using var identity = new DeviceIdentity("dev-1", ca, directory: null, new EnrollmentSettings(new Uri("http://127.0.0.1:9/"), "token"),
            new HttpClient(handler), time, NullLogger.Instance);
        var trying = identity.EnsureWithRetryAsync(3, TimeSpan.FromSeconds(1), CancellationToken.None);
        await Eventually.Until(() => handler.Calls == 1, "the first attempt");
        time.Advance(TimeSpan.FromMilliseconds(999));
        await Task.Delay(50);
        Assert.Equal(1, handler.Calls); // still pausing: 1 s before the second attempt
        time.Advance(TimeSpan.FromMilliseconds(1));
        await Eventually.Until(() => handler.Calls == 2, "the second attempt after 1 s");
        time.Advance(TimeSpan.FromMilliseconds(1_999));
        await Task.Delay(50);
        Assert.Equal(2, handler.Calls); // the pause doubled: 2 s
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.False(await trying.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(3, handler.Calls);
    }

    /// <summary>
    /// A token file that is not there yet (a secret mounted after the agent started) was taken for no token at all: the
    /// device said "no enrollment token configured" while one was, and never enrolled until restarted. The file is read
    /// when the device enrolls, and its absence is said naming it.
    /// </summary>
    [Fact]
    public async Task ATokenFileThatAppearsAfterTheStart_IsReadWhenTheDeviceEnrolls_AndItsAbsenceIsNamed()
    {
        var file = Path.Combine(Path.GetTempPath(), "edgemlops-token-" + Guid.NewGuid().ToString("N"));
        var handler = new RecordsBodies();
        var logger = new RecordingLogger();
        using var ca = SelfSignedCa();
        using var identity = new DeviceIdentity("dev-1", ca, directory: null, new EnrollmentSettings(new Uri("http://127.0.0.1:9/"), Token: null, TokenFile: file),
            new HttpClient(handler), TimeProvider.System, logger);
        try
        {
            Assert.False(await identity.EnsureAsync(CancellationToken.None));
            Assert.Empty(handler.Bodies);
            Assert.Contains(logger.Messages, m => m.Contains($"the enrollment token file '{file}' (Agent:Enrollment:TokenFile) does not exist", StringComparison.Ordinal));

            await File.WriteAllTextAsync(file, "mounted-later-token\n");
            Assert.False(await identity.EnsureAsync(CancellationToken.None)); // the server (this handler) refuses, but the token went
            Assert.Contains("\"mounted-later-token\"", Assert.Single(handler.Bodies), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// An enrolled device that boots with its clock wrong (no battery-backed clock, before NTP answers): its stored
    /// certificate looks "not yet valid". It was set aside for good — "not from the pinned fleet CA, not this device's,
    /// or expired" — and the device tried to enroll again, which a device whose token was removed after enrollment never
    /// can: it stayed offline after NTP set its clock, until restarted. The reason names the clock, and the stored
    /// certificate is taken up again once the clock is right, without enrolling.
    /// </summary>
    [Fact]
    public async Task AStoredCertificateSeenThroughAWrongClock_IsTakenUpOnceTheClockIsRight_WithoutEnrolling()
    {
        using var ca = SelfSignedCaWithKey(out var caKey);
        var directory = Directory.CreateTempSubdirectory("edgemlops-identity-").FullName;
        var issued = DateTimeOffset.UtcNow;
        using (var deviceKey = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var request = new CertificateRequest(new EdgeMlOps.Runtime.Security.FleetIdentity("dev-1", EdgeMlOps.Runtime.Security.FleetRole.Device, "test").ToSubject(), deviceKey, HashAlgorithmName.SHA256);
            using var certificate = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), issued, issued.AddDays(30), [7, 7, 7]);
            File.WriteAllText(Path.Combine(directory, DeviceIdentity.KeyFile), deviceKey.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(Path.Combine(directory, DeviceIdentity.CertificateFile), certificate.ExportCertificatePem());
        }

        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(issued.AddYears(-6)); // a board that booted at its build date
        var handler = new ThrowsThenRefuses(new HttpRequestException("Connection refused"));
        var logger = new RecordingLogger();
        using var identity = new DeviceIdentity("dev-1", ca, directory, new EnrollmentSettings(new Uri("http://127.0.0.1:9/"), Token: null), new HttpClient(handler), time, logger);
        try
        {
            Assert.Null(identity.Current);
            Assert.Contains(logger.Messages, m => m.Contains("is its time set (NTP)?", StringComparison.Ordinal));

            time.SetUtcNow(issued.AddMinutes(5)); // NTP answered
            Assert.True(await identity.EnsureAsync(CancellationToken.None));
            Assert.NotNull(identity.Current);
            Assert.Equal(0, handler.Calls); // no enrollment: it had its certificate all along
        }
        finally
        {
            caKey.Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static X509Certificate2 SelfSignedCaWithKey(out ECDsa key)
    {
        key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=test fleet CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddYears(-1), DateTimeOffset.UtcNow.AddYears(1));
        return X509CertificateLoader.LoadCertificate(created.RawData);
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

    private sealed class RecordsBodies : HttpMessageHandler
    {
        public List<string> Bodies { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Bodies.Add(await request.Content!.ReadAsStringAsync(cancellationToken));
            return new HttpResponseMessage(System.Net.HttpStatusCode.Forbidden);
        }
    }

    private sealed class RecordingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Add(formatter(state, exception));
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
