using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Runtime.Mqtt;
using EdgeMlOps.Runtime.Security;
using EdgeMlOps.Shared.Security;
using Microsoft.Extensions.Logging;

namespace EdgeMlOps.Agent.Security;

/// <summary>Where a device enrolls and renews, and the token for its first enrollment (none once it holds a certificate).</summary>
public sealed record EnrollmentSettings(Uri Url, string? Token, string? TokenFile = null)
{
    /// <summary>
    /// The token: <see cref="Token"/>, else <see cref="TokenFile"/>'s content read now (a secret may be mounted after the
    /// agent started); throws <see cref="IdentityException"/> saying which is missing.
    /// </summary>
    public string CurrentToken()
    {
        if (Token is { } token) return token;
        if (TokenFile is not { } file) throw new IdentityException("no certificate and no enrollment token configured (Agent:Enrollment:Token or Agent:Enrollment:TokenFile)");
        try
        {
            var text = File.ReadAllText(file).Trim();
            return text.Length > 0 ? text : throw new IdentityException($"no certificate, and the enrollment token file '{file}' (Agent:Enrollment:TokenFile) is empty");
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new IdentityException($"no certificate, and the enrollment token file '{file}' (Agent:Enrollment:TokenFile) does not exist");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IdentityException($"no certificate, and the enrollment token file '{file}' (Agent:Enrollment:TokenFile) cannot be read: {ex.Message}");
        }
    }
}

/// <summary>
/// The device's own key and its certificate from the fleet CA: loaded from <c>identity/</c> (the key
/// readable by the owner only), obtained by enrollment on first start, renewed with proof of the
/// current key after two thirds of its life. The certificate must chain to the CA the device pins
/// and name this device; anything else is thrown away and enrollment starts over.
/// </summary>
public sealed partial class DeviceIdentity : IDisposable
{
    public const string KeyFile = "device.key";
    public const string CertificateFile = "device.crt";

    /// <summary>
    /// The key of an enrollment under way, kept until its certificate arrives: an enrollment whose answer was lost
    /// (a timeout, a dropped link, an aggregator failing after it issued) is asked again for the same key, which the
    /// aggregator answers again, where a fresh key would meet "already enrolled" and need an operator.
    /// </summary>
    public const string PendingKeyFile = "enrolling.key";
    private static readonly TimeSpan MinRetry = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromMinutes(30);

    /// <summary>An enrollment call gives up after this long (the agent serves meanwhile and retries later).</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(15);

    private readonly string _deviceId;
    private readonly string? _directory;
    private readonly EnrollmentSettings? _enrollment;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private X509Certificate2? _current;
    private ECDsa? _enrollmentKey;
    private string? _discarded;

    /// <param name="deviceId">The id the certificate must name.</param>
    /// <param name="fleetCa">The fleet CA the device pins.</param>
    /// <param name="directory">Where the key and certificate live; null keeps them in memory (simulated devices).</param>
    /// <param name="enrollment">Where to enroll when there is no certificate yet (null: provisioned at the factory).</param>
    /// <param name="http">Client for enrollment and renewal.</param>
    /// <param name="time">Clock for expiry and renewal.</param>
    /// <param name="logger">Where enrollment is logged.</param>
    public DeviceIdentity(string deviceId, X509Certificate2 fleetCa, string? directory, EnrollmentSettings? enrollment, HttpClient http, TimeProvider time, ILogger logger)
    {
        _deviceId = deviceId;
        FleetCa = fleetCa;
        _directory = directory;
        _enrollment = enrollment;
        _http = http;
        _time = time;
        _logger = logger;
        _current = LoadStored();
    }

    public X509Certificate2 FleetCa { get; }

    /// <summary>The certificate (with its key) presented at the next connection, or null before enrollment.</summary>
    public X509Certificate2? Current => Volatile.Read(ref _current);

    /// <summary>TLS settings for an MQTT channel that authenticates as this device.</summary>
    public MqttTlsSettings Tls => new(FleetCa, _ => Current);

    /// <summary>Enrolls or renews when due; false (logged) when that failed and no valid certificate is at hand.</summary>
    public async Task<bool> EnsureAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var now = _time.GetUtcNow();
            // A stored certificate set aside (through a clock that was wrong, say) is read again before enrolling anew.
            if (Current is null && LoadStored() is { } stored) Volatile.Write(ref _current, stored);
            var current = Current;
            if (current is not null && now < CertificateChain.RenewAt(current)) return true;
            try
            {
                var next = current is not null && now < current.NotAfter ? await RenewAsync(current, cancellationToken).ConfigureAwait(false) : await EnrollAsync(cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _current, next);
                LogIssued(_deviceId, next.NotAfter.ToUniversalTime(), current is null ? "enrolled" : "renewed");
                return true;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // Unreachable server, refusal, bad answer, a full disk while storing the key: the device keeps serving and retries.
                LogFailed(_deviceId, EdgeMlOps.Shared.Diagnostics.FailureReasons.Describe(ex));
                return current is not null && now < current.NotAfter;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// A valid certificate within <paramref name="attempts"/> tries, pausing <paramref name="firstPause"/> and doubling (up
    /// to <see cref="MaxRetry"/>) between them: for a start-up that must not fail on an aggregator briefly unable to
    /// answer (the simulator's fleets). <see cref="RunAsync"/> is the unbounded form a real agent runs.
    /// </summary>
    public async Task<bool> EnsureWithRetryAsync(int attempts, TimeSpan firstPause, CancellationToken cancellationToken)
    {
        var pause = firstPause;
        for (var attempt = 1; ; attempt++)
        {
            if (await EnsureAsync(cancellationToken).ConfigureAwait(false)) return true;
            if (attempt >= attempts) return false;
            await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
            pause = Doubled(pause);
        }
    }

    private static TimeSpan Doubled(TimeSpan pause) => TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxRetry.Ticks));

    /// <summary>Keeps the certificate fresh until <paramref name="stopping"/>: retries with backoff while enrollment fails.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var retry = MinRetry;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var ok = await EnsureAsync(stopping).ConfigureAwait(false);
                var wait = ok && Current is { } c ? CertificateChain.RenewAt(c) - _time.GetUtcNow() : retry;
                retry = ok ? MinRetry : Doubled(retry);
                await Task.Delay(wait < MinRetry ? MinRetry : wait > MaxRetry ? MaxRetry : wait, _time, stopping).ConfigureAwait(false);
            }
        }
        catch (Exception) when (stopping.IsCancellationRequested)
        {
            // Whatever the attempt in flight raised once the agent began to stop is of no consequence.
        }
    }

    public void Dispose()
    {
        _current?.Dispose();
        _enrollmentKey?.Dispose();
        _gate.Dispose();
    }

    private async Task<X509Certificate2> EnrollAsync(CancellationToken cancellationToken)
    {
        var enrollment = _enrollment ?? throw new IdentityException("no certificate and no enrollment URL configured (Agent:Enrollment:Url)");
        var token = enrollment.CurrentToken();
        var key = _enrollmentKey ??= PendingKey();
        var request = new EnrollmentRequest(_deviceId, token, SigningRequest(key));
        var issued = await PostAsync(new Uri(enrollment.Url, "v1/enroll"), JsonContent.Create(request, EnrollmentJson.Default.EnrollmentRequest), key, cancellationToken).ConfigureAwait(false);
        _enrollmentKey = null;
        key.Dispose();
        if (_directory is not null) File.Delete(Path.Combine(_directory, PendingKeyFile));
        return issued;
    }

    /// <summary>The key an earlier, unanswered enrollment sent (kept on disk across restarts), or a new one, stored before it is sent.</summary>
    private ECDsa PendingKey()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        if (_directory is null) return key;
        var path = Path.Combine(_directory, PendingKeyFile);
        try
        {
            if (File.Exists(path))
            {
                key.ImportFromPem(File.ReadAllText(path));
                return key;
            }
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException)
        {
            LogDiscarded(_deviceId, $"{PendingKeyFile}: {ex.Message}");
            key.Dispose();
            key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        }

        Directory.CreateDirectory(_directory);
        OwnerOnlyFile.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        return key;
    }

    private async Task<X509Certificate2> RenewAsync(X509Certificate2 current, CancellationToken cancellationToken)
    {
        var url = _enrollment?.Url ?? throw new IdentityException("certificate due for renewal and no enrollment URL configured (Agent:Enrollment:Url)");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var currentKey = current.GetECDsaPrivateKey() ?? throw new IdentityException("current certificate has no ECDSA key");
        var csr = SigningRequest(key);
        PemEncoding.TryFind(csr, out var fields);
        var signature = currentKey.SignData(Convert.FromBase64String(csr[fields.Base64Data]), HashAlgorithmName.SHA256);
        var request = new RenewalRequest(current.ExportCertificatePem(), csr, Convert.ToBase64String(signature));
        return await PostAsync(new Uri(url, "v1/enroll/renew"), JsonContent.Create(request, EnrollmentJson.Default.RenewalRequest), key, cancellationToken).ConfigureAwait(false);
    }

    private async Task<X509Certificate2> PostAsync(Uri url, HttpContent content, ECDsa key, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var response = await _http.PostAsync(url, content, timeout.Token).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var error = await response.Content.ReadFromJsonAsync(EnrollmentJson.Default.EnrollmentError, cancellationToken).ConfigureAwait(false);
            throw new IdentityException($"{url} refused: {(int)response.StatusCode} {error?.Error}");
        }

        var issued = await response.Content.ReadFromJsonAsync(EnrollmentJson.Default.EnrollmentResponse, cancellationToken).ConfigureAwait(false)
            ?? throw new IdentityException($"{url} returned no certificate");
        using var certificate = X509Certificate2.CreateFromPem(issued.CertificatePem);
        using (var issuedKey = certificate.GetECDsaPublicKey())
        {
            if (issuedKey is null || !issuedKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
            {
                throw new IdentityException("issued certificate is not for the key this device generated");
            }
        }

        var withKey = Accept(certificate, key, out var refused) ?? throw new IdentityException($"issued certificate not usable: {refused}");
        if (_directory is not null)
        {
            Directory.CreateDirectory(_directory);
            OwnerOnlyFile.WriteAllText(Path.Combine(_directory, KeyFile), key.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(Path.Combine(_directory, CertificateFile), certificate.ExportCertificatePem());
        }

        return withKey;
    }

    private X509Certificate2? LoadStored()
    {
        if (_directory is null) return null;
        var keyPath = Path.Combine(_directory, KeyFile);
        var certificatePath = Path.Combine(_directory, CertificateFile);
        if (!File.Exists(keyPath) || !File.Exists(certificatePath)) return null;
        try
        {
            using var key = ECDsa.Create();
            key.ImportFromPem(File.ReadAllText(keyPath));
            using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
            var accepted = Accept(certificate, key, out var reason);
            if (accepted is null) Discarded(reason);
            return accepted;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException)
        {
            Discarded(ex.Message);
            return null;
        }
    }

    /// <summary>Says why the stored certificate is not used, once per reason: it is read again at every attempt (a wrong clock may be set right).</summary>
    private void Discarded(string reason)
    {
        if (reason == _discarded) return;
        _discarded = reason;
        LogDiscarded(_deviceId, reason);
    }

    private X509Certificate2? Accept(X509Certificate2 certificate, ECDsa key, out string reason)
    {
        if (!CertificateChain.IsIssuedBy(certificate, FleetCa, _time.GetUtcNow(), out reason)) return null;
        if (FleetIdentity.FromCertificate(certificate) is not { Role: FleetRole.Device } who || who.Id != _deviceId)
        {
            reason = $"issued to {certificate.Subject}, not device {_deviceId}";
            return null;
        }

        return CertificateChain.WithKey(certificate, key);
    }

    private string SigningRequest(ECDsa key) =>
        new CertificateRequest($"CN={_deviceId}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();

    [LoggerMessage(EventId = 1400, Level = LogLevel.Information, Message = "Device {DeviceId} {How}: certificate valid until {NotAfter:O}")]
    private partial void LogIssued(string deviceId, DateTime notAfter, string how);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Warning, Message = "Device {DeviceId} could not enroll or renew (will retry): {Error}")]
    private partial void LogFailed(string deviceId, string error);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Device {DeviceId}: stored certificate not used ({Reason}); enrolling again, and reading it again at every attempt")]
    private partial void LogDiscarded(string deviceId, string reason);
}

/// <summary>Enrollment or renewal could not produce a certificate this device can use.</summary>
public sealed class IdentityException(string message) : Exception(message);
