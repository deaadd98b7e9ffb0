using System.Security.Cryptography.X509Certificates;
using EdgeMlOps.Agent.Security;
using EdgeMlOps.Aggregator;
using EdgeMlOps.Shared.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMlOps.Simulator.Tests;

/// <summary>
/// A device whose enrollment the aggregator answered but whose answer never arrived (a timeout, a dropped link): it
/// asks again with the same key — in the same run or after a restart — and gets its certificate, where a new key would
/// meet "already enrolled" for good (what failed CI once, with the database dropping connections during enrollment).
/// </summary>
[Collection(FleetCollection.Name)]
public sealed class EnrollmentRetryTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnEnrollmentWhoseAnswerWasLost_IsAskedAgainWithTheSameKey_AndAnswered(bool restartInBetween)
    {
        var dir = Path.Combine(Path.GetTempPath(), "edgemlops-enroll-retry-" + Guid.NewGuid().ToString("N"));
        await using var node = new AggregatorNode(new AggregatorOptions
        {
            Fleet = "retry", ModelName = "m", Model = ModelSpecText.Parse("mlp-3-4-2"), EmbeddedBrokerPort = 0,
            HttpUrl = "http://127.0.0.1:0", DataDirectory = Path.Combine(dir, "agg"),
        });
        await node.StartAsync(CancellationToken.None);
        using var ca = X509CertificateLoader.LoadCertificate(node.Security.Authority.Certificate.RawData);
        var identityDirectory = Path.Combine(dir, "dev", "identity");
        var lossy = new LosesFirstAnswer();
        using var http = new HttpClient(lossy);

        var identity = new DeviceIdentity("dev-1", ca, identityDirectory, Join.Enrollment(node), http, TimeProvider.System, NullLogger.Instance);
        try
        {
            Assert.False(await identity.EnsureAsync(CancellationToken.None));
            Assert.Equal(1, lossy.Lost);
            Assert.Single(node.Security.Store.Devices()); // the aggregator did issue it
            using var pending = System.Security.Cryptography.ECDsa.Create();
            pending.ImportFromPem(File.ReadAllText(Path.Combine(identityDirectory, DeviceIdentity.PendingKeyFile)));
            if (restartInBetween)
            {
                identity.Dispose();
                identity = new DeviceIdentity("dev-1", ca, identityDirectory, Join.Enrollment(node), http, TimeProvider.System, NullLogger.Instance);
                Assert.Null(identity.Current);
            }

            Assert.True(await identity.EnsureAsync(CancellationToken.None));
            Assert.Equal("dev-1", EdgeMlOps.Runtime.Security.FleetIdentity.FromCertificate(identity.Current!)!.Id);
            Assert.Equal(pending.ExportSubjectPublicKeyInfo(), identity.Current!.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
            Assert.False(File.Exists(Path.Combine(identityDirectory, DeviceIdentity.PendingKeyFile)));
            Assert.True(File.Exists(Path.Combine(identityDirectory, DeviceIdentity.KeyFile)));
            Assert.Equal(2, lossy.Calls);
        }
        finally
        {
            identity.Dispose();
        }

        using var stored = new DeviceIdentity("dev-1", ca, identityDirectory, enrollment: null, http, TimeProvider.System, NullLogger.Instance);
        Assert.NotNull(stored.Current); // what it holds now survives a restart
        Assert.Equal(0, node.Security.Events.Count(EdgeMlOps.Aggregator.Security.SecurityEventKind.EnrollmentRefused));
    }

    /// <summary>Sends every request to the aggregator, and throws the first answer away (as a link dropped on the way back).</summary>
    private sealed class LosesFirstAnswer() : DelegatingHandler(new HttpClientHandler())
    {
        public int Calls { get; private set; }

        public int Lost { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (++Calls > 1) return response;
            response.Dispose();
            Lost++;
            throw new HttpRequestException("connection reset while reading the answer");
        }
    }
}
